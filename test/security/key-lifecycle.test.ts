import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  findTarget,
  refreshRepository,
  roleFetcher,
  signEnvelope,
  snapshotSigned,
  targetsSigned,
  timestampSigned,
  describeFile,
  TrustedRepository,
  type MetadataCache,
  type Signer,
} from '../../core/tuf/index.ts';
import { KeyStore, proposeRoot, roleSigners, signRootProposal, type KeyRecord } from '../../keys/index.ts';
import {
  ImageRepository,
  startRepositoryServer,
  type RepositoryServer,
} from '../../services/image-repo/index.ts';
import { fetchCapped, joinUrl } from '../../adapters/tuf/index.ts';
import { memoryCache } from '../helpers/tuf-client.ts';
import { FIXTURE_NOW } from '../helpers/fixture-time.ts';

const OFFLINE = 'offline passphrase';
const ONLINE = 'online passphrase';
const DAY = 24 * 60 * 60 * 1000;
let now = FIXTURE_NOW;
let store: KeyStore;
let repository: ImageRepository;
let server: RepositoryServer;
let anchor: Uint8Array;

const key = (role: string, online: boolean) =>
  store.generate({ repository: 'image', role, online, passphrase: online ? ONLINE : OFFLINE, now });
const signersOf = (records: KeyRecord[]) =>
  Promise.all(records.map((r) => store.signer(r.keyId, r.online ? ONLINE : OFFLINE)));
const online = async () => ({
  releases: await roleSigners(store, 'image', 'releases', ONLINE),
  snapshot: await roleSigners(store, 'image', 'snapshot', ONLINE),
  timestamp: await roleSigners(store, 'image', 'timestamp', ONLINE),
});
const artifact = (name: string, releaseCounter: number) => ({
  name,
  bytes: new TextEncoder().encode(name),
  hardwareIds: ['rpi4'],
  releaseCounter,
});

/** A client trusting root v1 that keeps its metadata between refreshes, like a device. */
function newClient(cache: MetadataCache = memoryCache()) {
  const fetch = (file: string, max: number) => fetchCapped(joinUrl(server.metadataUrl, file), max);
  return {
    cache,
    async refresh() {
      const trusted = new TrustedRepository((await cache.load('root')) ?? anchor, { name: 'image' });
      await refreshRepository(trusted, fetch, cache, now);
      return trusted;
    },
    async find(path: string) {
      const trusted = await this.refresh();
      return findTarget(trusted, path, roleFetcher(trusted, fetch), now);
    },
  };
}

let roots: KeyRecord[];
beforeAll(async () => {
  store = new KeyStore(await mkdtemp(join(tmpdir(), 'uproll-lifecycle-keys-')), { clock: () => now });
  repository = new ImageRepository(await mkdtemp(join(tmpdir(), 'uproll-lifecycle-repo-')));
  roots = [await key('root', false), await key('root', false), await key('root', false)];
  const [targets, releases, snapshot, timestamp] = [
    await key('targets', false),
    await key('releases', true),
    await key('snapshot', true),
    await key('timestamp', true),
  ];
  await repository.initialize(
    {
      root: roots.map((r) => r.publicKey),
      rootThreshold: 2,
      targets: [targets.publicKey],
      releases: [releases.publicKey],
      snapshot: [snapshot.publicKey],
      timestamp: [timestamp.publicKey],
    },
    { root: await signersOf(roots), targets: await signersOf([targets]), ...(await online()) },
    now,
  );
  anchor = await readFile(join(repository.metadataDir, '1.root.json'));
  server = await startRepositoryServer({ dir: repository.dir });
});
afterAll(() => server.close());

async function rootChange(changes: Parameters<typeof proposeRoot>[1], signers: Signer[]) {
  const versions = await repository.versions();
  let proposal = await proposeRoot(
    await readFile(join(repository.metadataDir, `${versions.root}.root.json`)),
    changes,
  );
  for (const signer of signers) proposal = await signRootProposal(proposal, signer); // one holder at a time
  return repository.publishRoot(proposal, await online(), now);
}

describe('key life cycle against the Image repository and the trust core', () => {
  const offlineClient = newClient();
  const revokedKeyAttack: { old?: Signer } = {};

  it('init, publish, and a client verifies the release', async () => {
    await repository.publish([artifact('app-1.bin', 1)], await online(), now);
    expect((await offlineClient.find('app-1.bin')).target.length).toBe(9);
  });

  it('rotates the timestamp key: a new root signed by 2 of 3 root keys', async () => {
    const [old] = await roleSigners(store, 'image', 'timestamp', ONLINE);
    revokedKeyAttack.old = old;
    const fresh = await key('timestamp', true);
    await store.revoke(old!.keyId, 'rotated', now);
    await rootChange(
      { replace: { timestamp: [fresh.publicKey] }, expires: new Date(now.getTime() + 365 * DAY) },
      await signersOf(roots.slice(0, 2)),
    );
    const client = newClient();
    expect((await client.refresh()).root.signed.version).toBe(2);
  });

  it('a client refuses a timestamp signed with the revoked key', async () => {
    const snapshot = await readFile(
      join(repository.metadataDir, `${(await repository.versions()).snapshot}.snapshot.json`),
    );
    const forged = await signEnvelope(
      timestampSigned({
        version: 99,
        expires: new Date(now.getTime() + DAY),
        snapshot: { version: (await repository.versions()).snapshot, bytes: snapshot },
      }),
      [revokedKeyAttack.old!],
    );
    const trusted = new TrustedRepository(anchor);
    trusted.updateRoot(await readFile(join(repository.metadataDir, '2.root.json')));
    trusted.finishRootUpdates(now);
    expect(() => trusted.updateTimestamp(forged, now)).toThrowWithCode('THRESHOLD_NOT_MET');
    await expect(store.signer(revokedKeyAttack.old!.keyId, ONLINE)).rejects.toThrowWithCode('KEY_REVOKED');
  });

  it('rotates root twice with a threshold change; a client offline for both walks the chain', async () => {
    const newRoots = [
      await key('root', false),
      await key('root', false),
      await key('root', false),
      await key('root', false),
    ];
    // v3: four new root keys, 3 of them needed; signed by 2 old keys and 3 new ones.
    await rootChange(
      {
        replace: { root: newRoots.map((r) => r.publicKey) },
        threshold: { root: 3 },
        expires: new Date(now.getTime() + 365 * DAY),
      },
      await signersOf([...roots.slice(1, 3), ...newRoots.slice(0, 3)]),
    );
    // v4: the threshold back to 2.
    await rootChange(
      { threshold: { root: 2 }, expires: new Date(now.getTime() + 365 * DAY) },
      await signersOf(newRoots.slice(1, 4)),
    );
    await repository.publish([artifact('app-2.bin', 2)], await online(), now);

    now = new Date(now.getTime() + 2 * 60 * 60 * 1000);
    const found = await offlineClient.find('app-2.bin');
    expect(found.target.custom).toEqual({ hardwareIds: ['rpi4'], releaseCounter: 2 });
    const cachedRoot = JSON.parse(new TextDecoder().decode(await offlineClient.cache.load('root'))) as {
      signed: { version: number };
    };
    expect(cachedRoot.signed.version).toBe(4);
  });

  it('compromise drill: the online timestamp and snapshot keys alone cannot get a new image accepted', async () => {
    const stolen = await online(); // the attacker has the snapshot and timestamp keys (and a key of their own)
    const versions = await repository.versions();
    const attacker = await key('attacker', true);
    const evil = new TextEncoder().encode('evil');
    const forgedReleases = await signEnvelope(
      targetsSigned({
        version: versions.releases + 1,
        expires: new Date(now.getTime() + DAY),
        targets: {
          'evil.bin': { ...describeFile(evil), custom: { hardwareIds: ['rpi4'], releaseCounter: 99 } },
        },
      }),
      await signersOf([attacker]),
    );
    const meta = {
      'targets.json': {
        version: versions.targets,
        ...describeFile(await readFile(join(repository.metadataDir, `${versions.targets}.targets.json`))),
      },
      'releases.json': { version: versions.releases + 1, ...describeFile(forgedReleases) },
    };
    const snapshot = await signEnvelope(
      snapshotSigned({ version: versions.snapshot + 1, expires: new Date(now.getTime() + DAY), meta }),
      stolen.snapshot,
    );
    const timestamp = await signEnvelope(
      timestampSigned({
        version: versions.timestamp + 1,
        expires: new Date(now.getTime() + DAY),
        snapshot: { version: versions.snapshot + 1, bytes: snapshot },
      }),
      stolen.timestamp,
    );
    const { writeFileAtomic } = await import('../../adapters/fs/index.ts');
    await writeFileAtomic(
      join(repository.metadataDir, `${versions.releases + 1}.releases.json`),
      forgedReleases,
    );
    await writeFileAtomic(join(repository.metadataDir, `${versions.snapshot + 1}.snapshot.json`), snapshot);
    await writeFileAtomic(join(repository.metadataDir, 'timestamp.json'), timestamp);

    await expect(offlineClient.find('evil.bin')).rejects.toMatchObject({ code: 'THRESHOLD_NOT_MET' });
  });
});
