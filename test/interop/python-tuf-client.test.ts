import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { proposeRoot, roleSigners, signRootProposal, type KeyStore } from '../../keys/index.ts';
import {
  rotateImageRole,
  startRepositoryServer,
  type ImageRepository,
  type RepositoryServer,
} from '../../services/image-repo/index.ts';
import { newKeyStoreImageRepository, TEST_PASSPHRASES } from '../helpers/image-repository.ts';
import { requirePythonTuf, runPython, SETUP_TIMEOUT_MS } from '../helpers/python-tuf.ts';

/** What refresh_and_download.py prints: the versions python-tuf trusts and what it downloaded. */
interface PythonClientResult {
  root: number;
  timestamp: number;
  downloads: Record<string, { path: string; length: number; hashes: { sha256: string }; custom: unknown }>;
  error?: string;
  message?: string;
  /** Where this run had python-tuf write targets (added here, not by the script). */
  targetDir: string;
}

const DAY = 24 * 60 * 60 * 1000;
let store: KeyStore;
let repository: ImageRepository;
let server: RepositoryServer;
/** python-tuf's metadata directory: kept between runs, as on a device. */
let clientMetadata: string;
let trustedRoot: string;
const published = new Map<string, Uint8Array>();

// python-tuf checks expiry against the wall clock, so the repository signs at the real time.
const online = async () => ({
  releases: await roleSigners(store, 'image', 'releases', TEST_PASSPHRASES.online),
  snapshot: await roleSigners(store, 'image', 'snapshot', TEST_PASSPHRASES.online),
  timestamp: await roleSigners(store, 'image', 'timestamp', TEST_PASSPHRASES.online),
});
async function publish(name: string, releaseCounter: number) {
  const bytes = new TextEncoder().encode(`${name}: bytes python-tuf must get exactly\n`);
  await repository.publish(
    [{ name, bytes, hardwareIds: ['rpi4'], releaseCounter }],
    await online(),
    new Date(),
  );
  published.set(name, bytes);
}

beforeAll(async () => {
  await requirePythonTuf();
  ({ store, repository } = await newKeyStoreImageRepository(new Date()));
  await publish('rootfs-1.img', 1);
  server = await startRepositoryServer({ dir: repository.dir });
  const client = await mkdtemp(join(tmpdir(), 'uproll-python-tuf-'));
  clientMetadata = join(client, 'metadata');
  trustedRoot = join(client, 'trusted-root.json');
  await writeFile(trustedRoot, await readFile(join(repository.metadataDir, '1.root.json')));
}, SETUP_TIMEOUT_MS);
afterAll(() => server?.close());

/** python-tuf's Updater refreshes from the running Image repository and downloads `targets`. */
async function pythonClient(targets: readonly string[]): Promise<PythonClientResult> {
  const out = await mkdtemp(join(tmpdir(), 'uproll-python-tuf-targets-'));
  const run = await runPython('refresh_and_download.py', [
    clientMetadata,
    server.metadataUrl,
    server.targetsUrl,
    trustedRoot,
    out,
    ...targets,
  ]);
  expect(run.stderr).toBe('');
  const result = JSON.parse(run.stdout) as Omit<PythonClientResult, 'targetDir'>;
  expect(run.status).toBe(result.error ? 1 : 0);
  return { ...result, targetDir: out };
}

/** python-tuf trusts what the repository serves now and downloaded every published target, byte for byte. */
async function expectFollows(result: PythonClientResult) {
  expect(result.error, result.message).toBeUndefined();
  const versions = await repository.versions();
  expect({ root: result.root, timestamp: result.timestamp }).toEqual({
    root: versions.root,
    timestamp: versions.timestamp,
  });
  expect(await readFile(join(clientMetadata, 'root.json'))).toEqual(
    Buffer.from(await repository.currentRootBytes()),
  );
  expect(Object.keys(result.downloads).sort()).toEqual([...published.keys()].sort());
  for (const [name, bytes] of published) {
    const download = result.downloads[name]!;
    expect(await readFile(download.path)).toEqual(Buffer.from(bytes));
    expect(download.hashes.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(download.custom).toEqual({ hardwareIds: ['rpi4'], releaseCounter: expect.any(Number) as number });
  }
}

describe('python-tuf as a client of the running Image repository', () => {
  it('refreshes and downloads a published target', async () => {
    const result = await pythonClient([...published.keys()]);
    await expectFollows(result);
    expect(result.root).toBe(1);
  });

  it('follows a timestamp key rotation (root 2, signed by the root keys)', async () => {
    const { added, revoked } = await rotateImageRole(
      store,
      repository,
      'timestamp',
      TEST_PASSPHRASES,
      new Date(),
    );
    await publish('rootfs-2.img', 2);
    const served = JSON.parse(await readFile(join(repository.metadataDir, 'timestamp.json'), 'utf8')) as {
      signatures: { keyid: string }[];
    };
    expect(served.signatures.map((s) => s.keyid)).toEqual([added.keyId]);
    expect(revoked.map((r) => r.keyId)).not.toContain(added.keyId);

    const result = await pythonClient([...published.keys()]);
    await expectFollows(result);
    expect(result.root).toBe(2);
    // It took the timestamp the new key signed.
    expect(await readFile(join(clientMetadata, 'timestamp.json'))).toEqual(
      await readFile(join(repository.metadataDir, 'timestamp.json')),
    );
  });

  it('follows a root ceremony that adds a root key and raises the threshold (root 3)', async () => {
    const now = new Date();
    const [oldRoot] = await roleSigners(store, 'image', 'root', TEST_PASSPHRASES.offline);
    const newRootKey = await store.generate({
      repository: 'image',
      role: 'root',
      online: false,
      passphrase: TEST_PASSPHRASES.offline,
      now,
    });
    const newRoot = await store.signer(newRootKey.keyId, TEST_PASSPHRASES.offline);
    // One holder at a time, as the proposal file travels: root 2's key, then the new one (root 3 needs both).
    let proposal = await proposeRoot(await repository.currentRootBytes(), {
      add: { root: [newRootKey.publicKey] },
      threshold: { root: 2 },
      expires: new Date(now.getTime() + repository.policy.root * DAY),
    });
    for (const holder of [oldRoot!, newRoot]) proposal = await signRootProposal(proposal, holder);
    await repository.publishRoot(proposal, await online(), now);
    await publish('rootfs-3.img', 3);

    const result = await pythonClient([...published.keys()]);
    await expectFollows(result);
    expect(result.root).toBe(3);
  });

  describe('when the repository serves a target whose bytes were changed', () => {
    it('python-tuf refuses it and writes nothing', async () => {
      const name = 'rootfs-3.img';
      // The stored file, content-addressed: `<sha256>.<name>` under targets/.
      const stored = (await readdir(repository.targetsDir)).find((file) => file.endsWith(`.${name}`))!;
      const bytes = Buffer.from(published.get(name)!);
      bytes[0]! ^= 0xff; // same length, other bytes
      await writeFile(join(repository.targetsDir, stored), bytes);

      const result = await pythonClient([name]);
      expect(result.error).toBe('LengthOrHashMismatchError');
      expect(await readdir(result.targetDir)).toEqual([]);
    });
  });
});
