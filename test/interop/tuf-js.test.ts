import { createHash, generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalize } from '@tufjs/canonical-json';
import {
  Key,
  Metadata,
  MetadataKind,
  MetaFile,
  type Root,
  Signature,
  Snapshot,
  TargetFile,
  Targets,
  Timestamp,
} from '@tufjs/models';
import { Updater } from 'tuf-js';
import { afterEach, describe, expect, it } from 'vitest';
import { signMetadata, type Signer } from '../../core/tuf/index.ts';
import { main as uprollTuf } from '../../cli/tuf/main.ts';
import { captureIo } from '../cli-io.ts';
import { serveFiles } from '../helpers/file-server.ts';
import { newImageRepository } from '../helpers/image-repository.ts';
import { startRepositoryServer } from '../../services/image-repo/index.ts';
import { newSigner } from '../helpers/keys.ts';

const EXPIRES = '2099-01-01T00:00:00Z';
const payload = new TextEncoder().encode('a target both implementations agree on');
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

type AnyMetadata = Metadata<Root | Timestamp | Snapshot | Targets>;

/** Builds a one-key-per-role repository from TUF models; `signWith` decides whose code signs. */
async function buildRepository(
  keys: Record<'root' | 'timestamp' | 'snapshot' | 'targets', Key>,
  signWith: (role: string, metadata: AnyMetadata) => Promise<void>,
): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  const bytesOf = (metadata: AnyMetadata) => new TextEncoder().encode(JSON.stringify(metadata.toJSON()));
  const root = Metadata.fromJSON(MetadataKind.Root, {
    signed: {
      _type: 'root',
      spec_version: '1.0.31',
      version: 1,
      expires: EXPIRES,
      consistent_snapshot: false,
      keys: Object.fromEntries(Object.values(keys).map((key) => [key.keyID, key.toJSON()])),
      roles: Object.fromEntries(
        Object.entries(keys).map(([role, key]) => [role, { keyids: [key.keyID], threshold: 1 }]),
      ),
    },
    signatures: [],
  });
  const targets = new Metadata(
    new Targets({
      version: 1,
      specVersion: '1.0.31',
      expires: EXPIRES,
      targets: {
        'app.bin': new TargetFile({
          path: 'app.bin',
          length: payload.byteLength,
          hashes: { sha256: createHash('sha256').update(payload).digest('hex') },
        }),
      },
    }),
  );
  await signWith('targets', targets);
  const snapshot = new Metadata(
    new Snapshot({
      version: 1,
      specVersion: '1.0.31',
      expires: EXPIRES,
      meta: { 'targets.json': new MetaFile({ version: 1 }) },
    }),
  );
  await signWith('snapshot', snapshot);
  const snapshotBytes = bytesOf(snapshot);
  const timestamp = new Metadata(
    new Timestamp({
      version: 1,
      specVersion: '1.0.31',
      expires: EXPIRES,
      snapshotMeta: new MetaFile({
        version: 1,
        length: snapshotBytes.byteLength,
        hashes: { sha256: createHash('sha256').update(snapshotBytes).digest('hex') },
      }),
    }),
  );
  await signWith('timestamp', timestamp);
  await signWith('root', root);
  files.set('metadata/1.root.json', bytesOf(root));
  files.set('metadata/root.json', bytesOf(root));
  files.set('metadata/targets.json', bytesOf(targets));
  files.set('metadata/snapshot.json', snapshotBytes);
  files.set('metadata/timestamp.json', bytesOf(timestamp));
  files.set('targets/app.bin', payload);
  return files;
}

describe('interoperability with tuf-js', () => {
  it('tuf-js refreshes and downloads from a repository signed by Uproll', async () => {
    const signers: Record<string, Signer> = {
      root: newSigner('ed25519'),
      timestamp: newSigner('ecdsa'),
      snapshot: newSigner(),
      targets: newSigner(),
    };
    const keys = Object.fromEntries(
      Object.entries(signers).map(([role, s]) => [role, Key.fromJSON(s.keyId, { ...s.publicKey })]),
    ) as Record<'root' | 'timestamp' | 'snapshot' | 'targets', Key>;
    const files = await buildRepository(keys, (role, metadata) => signMetadata(metadata, [signers[role]!]));
    const server = await serveFiles(files);
    closers.push(server.close);

    const dir = await mkdtemp(join(tmpdir(), 'uproll-interop-'));
    await writeFile(join(dir, 'root.json'), files.get('metadata/root.json')!);
    const updater = new Updater({
      metadataDir: dir,
      metadataBaseUrl: `${server.url}/metadata`,
      targetDir: dir,
      targetBaseUrl: `${server.url}/targets`,
    });
    await updater.refresh();
    const info = await updater.getTargetInfo('app.bin');
    const path = await updater.downloadTarget(info!, join(dir, 'app.bin'));
    expect(await readFile(path)).toEqual(Buffer.from(payload));
  });

  it('uproll-tuf refreshes and downloads from a repository signed by @tufjs/models', async () => {
    // Keys and signatures made without Uproll's code: node:crypto and the TUF models only.
    const pairs = Object.fromEntries(
      ['root', 'timestamp', 'snapshot', 'targets'].map((role) => [role, generateKeyPairSync('ed25519')]),
    );
    const keys = Object.fromEntries(
      Object.entries(pairs).map(([role, pair]) => {
        const hex = pair.publicKey.export({ type: 'spki', format: 'der' }).subarray(-32).toString('hex');
        const keyObject = { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: hex } };
        const keyID = createHash('sha256').update(canonicalize(keyObject)).digest('hex');
        return [role, new Key({ keyID, keyType: 'ed25519', scheme: 'ed25519', keyVal: { public: hex } })];
      }),
    ) as Record<'root' | 'timestamp' | 'snapshot' | 'targets', Key>;
    const files = await buildRepository(keys, (role, metadata) => {
      metadata.sign(
        (data) =>
          new Signature({
            keyID: keys[role as 'root'].keyID,
            sig: cryptoSign(null, data, pairs[role]!.privateKey).toString('hex'),
          }),
      );
      return Promise.resolve();
    });
    const server = await serveFiles(files);
    closers.push(server.close);

    const dir = await mkdtemp(join(tmpdir(), 'uproll-interop-'));
    await writeFile(join(dir, 'trusted-root.json'), files.get('metadata/root.json')!);
    const io = captureIo();
    const common = ['--metadata-dir', join(dir, 'metadata'), '--metadata-url', `${server.url}/metadata`];
    expect(
      await uprollTuf(['--metadata-dir', join(dir, 'metadata'), 'init', join(dir, 'trusted-root.json')], io),
    ).toBe(0);
    expect(await uprollTuf([...common, 'refresh'], io)).toBe(0);
    const download = [
      ...common,
      '--target-name',
      'app.bin',
      '--target-base-url',
      `${server.url}/targets`,
      '--target-dir',
      join(dir, 'targets'),
      'download',
    ];
    expect(await uprollTuf(download, io)).toBe(0);
    expect(io.stderr()).toBe('');
    expect(await readFile(join(dir, 'targets', 'app.bin'))).toEqual(Buffer.from(payload));
    expect(await readFile(join(dir, 'metadata', 'timestamp.json'))).toEqual(
      Buffer.from(files.get('metadata/timestamp.json')!),
    );
  });

  it('tuf-js refreshes from the running Image repository service and downloads a published target', async () => {
    // tuf-js checks expiry against the wall clock, so the repository signs at the real time.
    const now = new Date();
    const { repository, signers } = await newImageRepository(now);
    await repository.publish(
      [{ name: 'rootfs.img', bytes: payload, hardwareIds: ['rpi4'], releaseCounter: 1 }],
      signers,
      now,
    );
    const server = await startRepositoryServer({ dir: repository.dir });
    closers.push(() => server.close());
    const dir = await mkdtemp(join(tmpdir(), 'uproll-interop-'));
    await writeFile(join(dir, 'root.json'), await readFile(join(repository.metadataDir, '1.root.json')));
    const updater = new Updater({
      metadataDir: dir,
      metadataBaseUrl: server.metadataUrl,
      targetDir: dir,
      targetBaseUrl: server.targetsUrl,
    });
    await updater.refresh();
    const info = await updater.getTargetInfo('rootfs.img');
    expect(info?.custom).toEqual({ hardwareIds: ['rpi4'], releaseCounter: 1 });
    expect(await readFile(await updater.downloadTarget(info!, join(dir, 'rootfs.img')))).toEqual(
      Buffer.from(payload),
    );
  });
});
