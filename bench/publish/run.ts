// npm run bench:publish — time to publish a release of 1,000 artifacts, and to
// re-sign snapshot and timestamp of a repository listing 10,000 targets.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inMemorySigner } from '../../core/tuf/index.ts';
import { ImageRepository, type ArtifactInput } from '../../services/image-repo/index.ts';
import { median } from '../stats.ts';

const ROUNDS = 3;
const signer = () => inMemorySigner(generateKeyPairSync('ed25519').privateKey);

async function freshRepository() {
  const signers = {
    root: [signer()],
    targets: [signer()],
    releases: [signer()],
    snapshot: [signer()],
    timestamp: [signer()],
  };
  const keys = {
    root: signers.root.map((s) => s.publicKey),
    rootThreshold: 1,
    targets: signers.targets.map((s) => s.publicKey),
    releases: signers.releases.map((s) => s.publicKey),
    snapshot: signers.snapshot.map((s) => s.publicKey),
    timestamp: signers.timestamp.map((s) => s.publicKey),
  };
  const dir = await mkdtemp(join(tmpdir(), 'uproll-bench-publish-'));
  const repository = new ImageRepository(dir);
  await repository.initialize(keys, signers, new Date());
  return { repository, signers, dir };
}

function artifacts(count: number, offset = 0): ArtifactInput[] {
  return Array.from({ length: count }, (_, i) => ({
    name: `pkg/artifact-${offset + i}.bin`,
    bytes: new TextEncoder().encode(`artifact ${offset + i}`.padEnd(4096, '.')),
    hardwareIds: ['rpi4'],
    releaseCounter: 1,
  }));
}

async function seconds(body: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  await body();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

const publishTimes: number[] = [];
const resignTimes: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  const { repository, signers, dir } = await freshRepository();
  publishTimes.push(await seconds(() => repository.publish(artifacts(1000), signers, new Date())));
  for (let batch = 1; batch < 10; batch++)
    await repository.publish(artifacts(1000, batch * 1000), signers, new Date());
  resignTimes.push(await seconds(() => repository.refresh(signers, new Date(), { snapshot: true })));
  await rm(dir, { recursive: true, force: true });
}
console.log(`Image repository publishing (${ROUNDS} rounds, medians; artifacts of 4 KiB on the local disk)`);
console.log(
  `  publish a release of 1,000 artifacts:                 ${median(publishTimes).toFixed(3)} s  (runs: ${publishTimes.map((t) => t.toFixed(3)).join(', ')})`,
);
console.log(
  `  re-sign snapshot and timestamp with 10,000 targets:   ${(median(resignTimes) * 1000).toFixed(1)} ms  (runs: ${resignTimes.map((t) => (t * 1000).toFixed(1)).join(', ')})`,
);
