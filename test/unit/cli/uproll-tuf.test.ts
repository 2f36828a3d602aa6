import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../../cli/tuf/main.ts';
import { captureIo } from '../../cli-io.ts';
import { serveFiles } from '../../helpers/file-server.ts';
import { MockRepository, targetOf } from '../../helpers/mock-repository.ts';

const image = new TextEncoder().encode('firmware 2');
let repo: MockRepository;
let server: Awaited<ReturnType<typeof serveFiles>>;
let dir: string;
let files: Map<string, Uint8Array>;

beforeEach(async () => {
  repo = new MockRepository();
  repo.targets['fw/v2.bin'] = targetOf(image);
  await repo.publishRoot();
  await repo.publish();
  files = new Map();
  server = await serveFiles(files);
  sync();
  dir = await mkdtemp(join(tmpdir(), 'uproll-tuf-'));
  await writeFile(join(dir, 'trusted-root.json'), repo.served('root'));
});
afterEach(() => server.close());

/** Serves the repository's current metadata under /metadata and the target under /targets. */
function sync(targetBytes = image) {
  files.clear();
  // The file server looks files up by decoded path, as a static server does.
  for (const [name, bytes] of repo.files) files.set(`metadata/${decodeURIComponent(name)}`, bytes);
  files.set('targets/fw/v2.bin', targetBytes);
}

async function tuf(...args: string[]) {
  const io = captureIo();
  const status = await main(['--metadata-dir', join(dir, 'metadata'), ...args], io);
  return { status, stderr: io.stderr() };
}

const remote = () => ['--metadata-url', `${server.url}/metadata`];
const download = (name = 'fw/v2.bin') => [
  ...remote(),
  '--target-name',
  name,
  '--target-base-url',
  `${server.url}/targets`,
  '--target-dir',
  join(dir, 'targets'),
  'download',
];

describe('uproll-tuf', () => {
  it('downloads a verified target once; a copy that verifies is not fetched again', async () => {
    expect((await tuf('init', join(dir, 'trusted-root.json'))).status).toBe(0);
    expect((await tuf(...download())).status).toBe(0);
    expect((await tuf(...download())).status).toBe(0);
    expect(server.requests.filter((path) => path.startsWith('targets/'))).toEqual(['targets/fw/v2.bin']);
    expect(await readFile(join(dir, 'targets', encodeURIComponent('fw/v2.bin')))).toEqual(Buffer.from(image));
    expect((await readdir(join(dir, 'metadata'))).sort()).toEqual([
      'root.json',
      'snapshot.json',
      'targets.json',
      'timestamp.json',
    ]);
  });

  it('refuses to init from a file that is not a self-signed root', async () => {
    await writeFile(join(dir, 'not-root.json'), repo.served('timestamp'));
    const { status, stderr } = await tuf('init', join(dir, 'not-root.json'));
    expect(status).toBe(1);
    expect(stderr).toMatch(/^uproll-tuf: BAD_METADATA: /);
  });

  it('exits 1 with the attack code when the repository is frozen, keeping what it trusted', async () => {
    await tuf('init', join(dir, 'trusted-root.json'));
    repo.expires.timestamp = '2020-01-01T00:00:00Z';
    await repo.publishTimestamp();
    sync();
    const { status, stderr } = await tuf(...remote(), 'refresh');
    expect(status).toBe(1);
    expect(stderr).toMatch(/^uproll-tuf: FREEZE_ATTACK: /);
    expect(await readdir(join(dir, 'metadata'))).toEqual(['root.json']);
  });

  it('exits 1 and keeps nothing when the target bytes are not the ones signed', async () => {
    await tuf('init', join(dir, 'trusted-root.json'));
    sync(new TextEncoder().encode('firmware X'));
    const { status, stderr } = await tuf(...download());
    expect(status).toBe(1);
    expect(stderr).toMatch(/^uproll-tuf: HASH_MISMATCH: /);
    expect(await readdir(join(dir, 'targets'))).toEqual([]);
  });

  it('asks for a delegated role by its percent-encoded name and keeps it though the target is not found', async () => {
    repo.delegate({ name: 'x/../../../escape' });
    await repo.publish();
    sync();
    await tuf('init', join(dir, 'trusted-root.json'));
    const { status, stderr } = await tuf(...download('nonexistent target'));
    expect(status).toBe(1);
    expect(stderr).toMatch(/^uproll-tuf: TARGET_NOT_FOUND: /);
    // TUF spec and python-tuf: the name is one path segment under the metadata URL ...
    expect(server.rawPaths).toContain('/metadata/x%2F..%2F..%2F..%2Fescape.json');
    expect(server.rawPaths.every((path) => path.startsWith('/metadata/'))).toBe(true);
    // ... and one file in the metadata directory, kept because it verified.
    expect((await readdir(join(dir, 'metadata'))).sort()).toEqual([
      'root.json',
      'snapshot.json',
      'targets.json',
      'timestamp.json',
      'x%2F..%2F..%2F..%2Fescape.json',
    ]);
  });

  it('asks for a target whose path holds URL delimiters by its percent-encoded path', async () => {
    const name = 'fw/v2 #1?.bin';
    repo.targets[name] = targetOf(image);
    await repo.publish();
    sync();
    files.set(`targets/${name}`, image);
    await tuf('init', join(dir, 'trusted-root.json'));
    expect((await tuf(...download(name))).status).toBe(0);
    expect(server.rawPaths).toContain('/targets/fw/v2%20%231%3F.bin');
  });

  it('exits 1 with the usage on a command line it cannot use', async () => {
    const { status, stderr } = await tuf('fly');
    expect(status).toBe(1);
    expect(stderr).toContain('Usage:');
  });
});
