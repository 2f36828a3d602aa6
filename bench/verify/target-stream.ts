// Streaming hash-and-length check of a 256 MB target against sha256sum on
// the same file, in the same run. Run: npm run bench:verify
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TargetVerifier } from '../../core/tuf/index.ts';
import { median } from '../stats.ts';

const SIZE = 256 * 1024 * 1024;
const ROUNDS = 5;

async function writeTarget(path: string): Promise<string> {
  const block = Buffer.alloc(1024 * 1024);
  const hash = createHash('sha256');
  const file = await open(path, 'w');
  for (let offset = 0; offset < SIZE; offset += block.byteLength) {
    block.writeUInt32LE(offset / block.byteLength, 0); // no two blocks alike
    hash.update(block);
    await file.write(block);
  }
  await file.close();
  return hash.digest('hex');
}

async function verifyStreaming(path: string, sha256: string): Promise<number> {
  const started = process.hrtime.bigint();
  const verifier = new TargetVerifier({ length: SIZE, hashes: { sha256 } }, 'bench.img');
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
    verifier.update(chunk);
  }
  verifier.finish();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

function sha256sum(path: string): number {
  const started = process.hrtime.bigint();
  const result = spawnSync('sha256sum', [path], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`sha256sum failed: ${result.stderr}`);
  return Number(process.hrtime.bigint() - started) / 1e9;
}

export async function benchTargetStream(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'uproll-bench-'));
  const path = join(dir, 'target.img');
  try {
    const sha256 = await writeTarget(path);
    await verifyStreaming(path, sha256); // warm the page cache for both
    sha256sum(path);
    const ours: number[] = [];
    const theirs: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      ours.push(await verifyStreaming(path, sha256));
      theirs.push(sha256sum(path));
    }
    const mb = SIZE / 1024 / 1024;
    const oursMbps = mb / median(ours);
    const theirsMbps = mb / median(theirs);
    console.log(`Streaming hash-and-length check of a ${mb} MB target (page cache warm, ${ROUNDS} rounds)`);
    console.log(`  TargetVerifier: median ${median(ours).toFixed(3)} s, ${oursMbps.toFixed(0)} MB/s`);
    console.log(`  sha256sum:      median ${median(theirs).toFixed(3)} s, ${theirsMbps.toFixed(0)} MB/s`);
    console.log(
      `  ratio (throughput, ours / sha256sum): ${(oursMbps / theirsMbps).toFixed(2)}   (target: at least 0.9)`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
