import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  NO_CACHE,
  refreshRepository,
  TrustedRepository,
  type MetadataFetcher,
} from '../../core/tuf/index.ts';
import { CurrentRoleSigners, KeyStore } from '../../keys/index.ts';
import { DirectorRepository } from '../../services/director/index.ts';
import { freshnessSigners, keepMetadataFresh } from '../../services/freshness/index.ts';
import { newKeyStoreImageRepository, TEST_PASSPHRASES } from '../helpers/image-repository.ts';
import { FIXTURE_NOW } from '../helpers/fixture-time.ts';

const HOUR = 60 * 60 * 1000;
const ONLINE = TEST_PASSPHRASES.online;

const fileFetcher =
  (dir: string): MetadataFetcher =>
  (file, max) =>
    readFile(join(dir, file)).then(
      (bytes) => bytes.subarray(0, max + 1),
      () => undefined,
    );

describe('metadata freshness', () => {
  it('keeps both repositories valid for 30 days when the job runs every hour', async () => {
    const start = FIXTURE_NOW;
    const { store, repository: image } = await newKeyStoreImageRepository(start);
    const key = (repository: 'director', role: string, online: boolean) =>
      store.generate({
        repository,
        role,
        online,
        passphrase: online ? ONLINE : TEST_PASSPHRASES.offline,
        now: start,
      });
    const signer = async (record: Awaited<ReturnType<typeof key>>) =>
      store.signer(record.keyId, record.online ? ONLINE : TEST_PASSPHRASES.offline);
    const director = new DirectorRepository(await mkdtemp(join(tmpdir(), 'uproll-fresh-director-')));
    const d = {
      root: await key('director', 'root', false),
      targets: await key('director', 'targets', true),
      snapshot: await key('director', 'snapshot', true),
      timestamp: await key('director', 'timestamp', true),
    };
    await director.initialize(
      {
        root: [d.root.publicKey],
        rootThreshold: 1,
        targets: [d.targets.publicKey],
        snapshot: [d.snapshot.publicKey],
        timestamp: [d.timestamp.publicKey],
      },
      [await signer(d.root)],
      start,
    );
    const signers = await freshnessSigners(
      new CurrentRoleSigners(new KeyStore(store.dir, { clock: () => new Date(), onlineOnly: true }), ONLINE),
    );
    await director.register(
      { deviceId: 'dev-1', ecus: [{ serial: 'e1', hardwareId: 'hw' }], publicKey: d.root.publicKey },
      signers.director,
      start,
    );

    const anchors = {
      image: await readFile(join(image.metadataDir, '1.root.json')),
      director: await director.currentRoot(),
    };
    const verify = async (now: Date) => {
      await refreshRepository(
        new TrustedRepository(anchors.image),
        fileFetcher(image.metadataDir),
        NO_CACHE,
        now,
      );
      await refreshRepository(
        new TrustedRepository(anchors.director),
        fileFetcher(join(director.dir, 'devices', 'dev-1', 'metadata')),
        NO_CACHE,
        now,
      );
    };

    let resigned = 0;
    for (let hour = 0; hour <= 30 * 24; hour++) {
      const now = new Date(start.getTime() + hour * HOUR);
      const report = await keepMetadataFresh({ image, director, signers, now });
      if (report.image.timestamp) resigned += 1;
      await verify(now); // a device checking at any hour finds valid metadata
    }
    expect(resigned).toBeGreaterThan(40); // about every 12 hours

    // Without the job, the timestamp expires within a day.
    await expect(verify(new Date(start.getTime() + (30 * 24 + 25) * HOUR))).rejects.toMatchObject({
      code: 'FREEZE_ATTACK',
    });
  });
});
