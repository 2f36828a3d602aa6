import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main as uprollTuf } from '../../cli/tuf/main.ts';
import { startRepositoryServer, type RepositoryServer } from '../../services/image-repo/index.ts';
import { targetFileName } from '../../adapters/tuf/index.ts';
import { captureIo } from '../cli-io.ts';
import { fileTree } from '../helpers/file-tree.ts';
import { requirePythonTuf, runPython, SETUP_TIMEOUT_MS } from '../helpers/python-tuf.ts';

/** What write_repository.py prints: each target it wrote, as its metadata lists it. */
type Listed = Record<string, { length: number; hashes: { sha256: string } }>;

let out: string;
let listed: Listed;
let server: RepositoryServer;
let client: string;

beforeAll(async () => {
  await requirePythonTuf();
  out = await mkdtemp(join(tmpdir(), 'uproll-python-tuf-repo-'));
  const run = await runPython('write_repository.py', [out]);
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  listed = JSON.parse(run.stdout) as Listed;
  // Served as python-tuf wrote it: a plain file server over the directory.
  server = await startRepositoryServer({ dir: join(out, 'repository') });
  client = await mkdtemp(join(tmpdir(), 'uproll-python-tuf-client-'));
  const io = captureIo();
  const init = ['--metadata-dir', join(client, 'metadata'), 'init'];
  expect(
    await uprollTuf([...init, join(out, 'repository', 'metadata', '1.root.json')], io),
    io.stderr(),
  ).toBe(0);
}, SETUP_TIMEOUT_MS);
afterAll(() => server?.close());

/** Runs uproll-tuf in-process against the served repository; returns its exit status and what it printed. */
async function uprollTufRun(args: readonly string[]) {
  const io = captureIo();
  const common = ['--metadata-dir', join(client, 'metadata'), '--metadata-url', server.metadataUrl];
  const status = await uprollTuf([...common, ...args], io);
  return { status, stderr: io.stderr() };
}

const download = (names: readonly string[]) =>
  uprollTufRun([
    ...names.flatMap((name) => ['--target-name', name]),
    ...['--target-base-url', server.targetsUrl, '--target-dir', join(client, 'targets'), 'download'],
  ]);

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('uproll-tuf against a repository written by python-tuf', () => {
  it('refreshes and downloads a top-level and a delegated target with the bytes python-tuf listed', async () => {
    const names = ['notes.txt', 'firmware/app-1.bin'];
    expect(await download(names)).toEqual({ status: 0, stderr: '' });
    for (const name of names) {
      const bytes = await readFile(join(client, 'targets', targetFileName(name)));
      expect(bytes.byteLength).toBe(listed[name]!.length);
      expect(sha256(bytes)).toBe(listed[name]!.hashes.sha256);
    }
    // What it trusts is what python-tuf signed, byte for byte.
    for (const role of ['timestamp', 'releases'] as const) {
      const served = role === 'timestamp' ? 'timestamp.json' : '1.releases.json';
      expect(await readFile(join(client, 'metadata', `${role}.json`))).toEqual(
        await readFile(join(out, 'repository', 'metadata', served)),
      );
    }
  });

  describe('when the delegated role of the next version was changed after it was signed', () => {
    it('refuses the target with THRESHOLD_NOT_MET and keeps trusting the old delegated role', async () => {
      await cp(join(out, 'attack'), join(out, 'repository'), { recursive: true });
      const trustedBefore = await readFile(join(client, 'metadata', 'releases.json'));
      const targetsBefore = await fileTree(join(client, 'targets'));

      // Timestamp and snapshot v2 are sound: a refresh takes them.
      expect(await uprollTufRun(['refresh'])).toEqual({ status: 0, stderr: '' });
      expect(await readFile(join(client, 'metadata', 'timestamp.json'))).toEqual(
        await readFile(join(out, 'attack', 'metadata', 'timestamp.json')),
      );

      const { status, stderr } = await download(['firmware/app-2.bin']);
      expect(status).toBe(1);
      expect(stderr).toMatch(/^uproll-tuf: THRESHOLD_NOT_MET: /);
      expect(await readFile(join(client, 'metadata', 'releases.json'))).toEqual(trustedBefore);
      expect(await fileTree(join(client, 'targets'))).toEqual(targetsBefore);
    });
  });
});
