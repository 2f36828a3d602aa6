import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TrustedRepository, type FoundTarget, type Signer } from '../../core/tuf/index.ts';
import { fullVerification, signDeviceManifest, signEcuVersionReport } from '../../core/uptane/index.ts';
import { UptaneClient } from '../../agent/index.ts';
import { DirectorRepository, devicesTrustingKey } from '../../services/director/index.ts';
import { startRepositoryServer, type RepositoryServer } from '../../services/image-repo/index.ts';
import { ensureTarget, fetchCapped, joinUrl, targetUrl } from '../../adapters/tuf/index.ts';
import { memoryCache } from '../helpers/tuf-client.ts';
import { newImageRepository, REPO_NOW } from '../helpers/image-repository.ts';
import { newSigner } from '../helpers/keys.ts';

const rootfs = new TextEncoder().encode('rootfs 2 for rpi4'.repeat(100));
const device = { deviceId: 'dev-1', ecus: [{ serial: 'ecu-1', hardwareId: 'rpi4' }] };
const deviceKey = newSigner();
const servers: RepositoryServer[] = [];
let director: DirectorRepository;
let directorSigners: Record<'targets' | 'snapshot' | 'timestamp', Signer[]>;
let image: Awaited<ReturnType<typeof newImageRepository>>;

beforeAll(async () => {
  image = await newImageRepository();
  await image.repository.publish(
    [{ name: 'rootfs.img', bytes: rootfs, hardwareIds: ['rpi4'], releaseCounter: 2 }],
    image.signers,
    REPO_NOW,
  );
  director = new DirectorRepository(await mkdtemp(join(tmpdir(), 'uproll-director-')));
  const root = [newSigner()];
  directorSigners = { targets: [newSigner()], snapshot: [newSigner()], timestamp: [newSigner()] };
  const pub = (signers: Signer[]) => signers.map((s) => s.publicKey);
  await director.initialize(
    {
      root: pub(root),
      rootThreshold: 1,
      targets: pub(directorSigners.targets),
      snapshot: pub(directorSigners.snapshot),
      timestamp: pub(directorSigners.timestamp),
    },
    root,
    REPO_NOW,
  );
  await director.register({ ...device, publicKey: deviceKey.publicKey }, directorSigners, REPO_NOW);
  servers.push(await startRepositoryServer({ dir: image.repository.dir }));
  servers.push(await startRepositoryServer({ dir: director.dir, areas: ['devices'] }));
});
afterAll(() => Promise.all(servers.map((s) => s.close())));

/** The device side: full verification against both services over HTTP. */
async function deviceVerifies() {
  const [imageServer, directorServer] = servers as [RepositoryServer, RepositoryServer];
  const directorUrl = `${directorServer.url}/devices/${device.deviceId}/metadata/`;
  const imageRepository = new TrustedRepository(
    await readFile(join(image.repository.metadataDir, '1.root.json')),
    { name: 'image' },
  );
  const verified = await fullVerification({
    director: {
      repository: new TrustedRepository(await director.currentRoot(), { name: 'director' }),
      fetch: (file, max) => fetchCapped(joinUrl(directorUrl, file), max),
      cache: memoryCache(),
    },
    image: {
      repository: imageRepository,
      fetch: (file, max) => fetchCapped(joinUrl(imageServer.metadataUrl, file), max),
      cache: memoryCache(),
    },
    device,
    installed: { 'ecu-1': { releaseCounter: 1 } },
    now: REPO_NOW,
  });
  return { verified, imageServer, imageRepository };
}

async function manifest(counter: number, signer = deviceKey) {
  const report = await signEcuVersionReport(
    {
      ecuSerial: 'ecu-1',
      installedImage: {
        filepath: 'rootfs.img',
        fileinfo: { length: rootfs.byteLength, hashes: { sha256: 'ab'.repeat(32) } },
      },
      attacksDetected: '',
      counter,
      time: REPO_NOW.toISOString(),
    },
    signer,
  );
  const signed = await signDeviceManifest(
    {
      trustedRoots: { image: 1, director: 1 },
      deviceId: 'dev-1',
      primaryEcuSerial: 'ecu-1',
      ecuVersionReports: { 'ecu-1': report },
      counter,
      time: REPO_NOW.toISOString(),
    },
    signer,
  );
  return new TextEncoder().encode(JSON.stringify(signed));
}

describe('Uptane end to end: Image repository and Director services, a device verifying over HTTP', () => {
  it('verifies nothing to install before the Director assigns anything', async () => {
    expect((await deviceVerifies()).verified).toEqual([]);
  });

  it('verifies, downloads and reports the image the Director assigns', async () => {
    const released = (await image.repository.releasedTargets())['rootfs.img']!;
    await director.assign(
      'dev-1',
      [
        {
          ecuSerial: 'ecu-1',
          path: 'rootfs.img',
          length: released.length,
          hashes: released.hashes,
          releaseCounter: 2,
        },
      ],
      directorSigners,
      REPO_NOW,
    );
    const { verified, imageServer } = await deviceVerifies();
    expect(verified).toMatchObject([
      { ecuSerial: 'ecu-1', path: 'rootfs.img', releaseCounter: 2, imageRole: 'releases' },
    ]);

    const found: FoundTarget = {
      path: 'rootfs.img',
      role: 'releases',
      target: { length: released.length, hashes: released.hashes } as FoundTarget['target'],
    };
    const dir = await mkdtemp(join(tmpdir(), 'uproll-device-'));
    const { path } = await ensureTarget(found, targetUrl(imageServer.targetsUrl, found, true), dir);
    expect(await readFile(path)).toEqual(Buffer.from(rootfs));

    await director.receiveManifest('dev-1', await manifest(1), REPO_NOW);
    expect((await director.inventory('dev-1')).installed['ecu-1']).toMatchObject({
      filepath: 'rootfs.img',
      length: rootfs.byteLength,
    });
  });

  it('refuses a replayed or forged report and keeps the inventory as it was', async () => {
    const before = await director.inventory('dev-1');
    await expect(director.receiveManifest('dev-1', await manifest(0), REPO_NOW)).rejects.toThrowWithCode(
      'REPLAYED_REPORT',
    );
    await expect(
      director.receiveManifest('dev-1', await manifest(9, newSigner()), REPO_NOW),
    ).rejects.toThrowWithCode('BAD_SIGNATURE');
    expect(await director.inventory('dev-1')).toEqual(before);
  });

  it('accepts the very bytes it last accepted again (redelivered, or resent after a lost ack), changing nothing', async () => {
    const before = await director.inventory('dev-1');
    await expect(director.receiveManifest('dev-1', await manifest(1), REPO_NOW)).resolves.toMatchObject({
      counter: 1,
    });
    await expect(director.receiveManifest('dev-1', await manifest(0), REPO_NOW)).rejects.toThrowWithCode(
      'REPLAYED_REPORT',
    );
    expect(await director.inventory('dev-1')).toEqual(before);
  });

  it('refuses to assign to an ECU the device does not have', async () => {
    await expect(
      director.assign(
        'dev-1',
        [{ ecuSerial: 'ecu-9', path: 'rootfs.img', length: 1, hashes: {}, releaseCounter: 1 }],
        directorSigners,
        REPO_NOW,
      ),
    ).rejects.toThrowWithCode('ECU_MISMATCH');
  });

  it('tells which devices still trust a key, from the root version they report', async () => {
    const timestampKey = image.signers.timestamp[0]!.keyId;
    expect(await devicesTrustingKey(timestampKey, director, image.repository)).toEqual([
      { deviceId: 'dev-1', repository: 'image', root: 1, trustsKey: true },
    ]);
    expect(await devicesTrustingKey('ab'.repeat(32), director, image.repository)).toEqual([
      { deviceId: 'dev-1', repository: 'image', root: 1, trustsKey: false },
    ]);
  });

  it("runs on the device as the agent's UptaneClient, keeping trusted metadata and a secure time", async () => {
    const [imageServer, directorServer] = servers as [RepositoryServer, RepositoryServer];
    const dataDir = await mkdtemp(join(tmpdir(), 'uproll-agent-trust-'));
    let clock = REPO_NOW;
    const client = new UptaneClient({
      dataDir,
      device,
      imageMetadataUrl: imageServer.metadataUrl,
      directorMetadataUrl: `${directorServer.url}/devices/${device.deviceId}/metadata/`,
      imageTargetsUrl: imageServer.targetsUrl,
      imageRoot: await readFile(join(image.repository.metadataDir, '1.root.json')),
      directorRoot: await director.currentRoot(),
      clock: () => clock,
    });
    expect(await client.verify({ 'ecu-1': { releaseCounter: 1 } })).toMatchObject([
      { path: 'rootfs.img', releaseCounter: 2 },
    ]);
    // The delegated releases role is kept too, as it verified.
    expect((await readdir(join(dataDir, 'trust', 'image'))).sort()).toEqual([
      'releases.json',
      'root.json',
      'snapshot.json',
      'targets.json',
      'timestamp.json',
    ]);

    clock = new Date(REPO_NOW.getTime() - 10 * 24 * 60 * 60 * 1000); // the device clock is set back
    await client.verify({ 'ecu-1': { releaseCounter: 1 } });
    const secureTime = JSON.parse(await readFile(join(dataDir, 'trust', 'secure-time.json'), 'utf8')) as {
      lastVerified: string;
    };
    expect(secureTime.lastVerified).toBe(REPO_NOW.toISOString());

    await expect(client.verify({ 'ecu-1': { releaseCounter: 5 } })).rejects.toThrowWithCode(
      'RELEASE_COUNTER_ROLLBACK',
    );
  });
});
