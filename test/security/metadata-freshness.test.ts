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
import { KeyStore } from '../../keys/index.ts';
import { DirectorRepository } from '../../services/director/index.ts';
import { ImageRepository } from '../../services/image-repo/index.ts';
import { freshnessSigners, keepMetadataFresh } from '../../services/freshness/index.ts';

const HOUR = 60 * 60 * 1000;
const ONLINE = 'online passphrase';

const fileFetcher =
  (dir: string): MetadataFetcher =>
  (file, max) =>
    readFile(join(dir, file)).then(
      (bytes) => bytes.subarray(0, max + 1),
      () => undefined,
    );

describe('metadata freshness', () => {
  it('keeps both repositories valid for 30 days when the job runs every hour', async () => {
    const start = new Date('2026-11-21T12:00:00Z');
    const store = new KeyStore(await mkdtemp(join(tmpdir(), 'uproll-fresh-keys-')));
    const key = (repository: 'image' | 'director', role: string, online: boolean) =>
      store.generate({
        repository,
        role,
        online,
        passphrase: online ? ONLINE : 'offline passphrase',
        now: start,
      });
    const signer = async (record: Awaited<ReturnType<typeof key>>) =>
      store.signer(record.keyId, record.online ? ONLINE : 'offline passphrase');
    const image = new ImageRepository(await mkdtemp(join(tmpdir(), 'uproll-fresh-image-')));
    const k = {
      root: await key('image', 'root', false),
      targets: await key('image', 'targets', false),
      releases: await key('image', 'releases', true),
      snapshot: await key('image', 'snapshot', true),
      timestamp: await key('image', 'timestamp', true),
    };
    await image.initialize(
      {
        root: [k.root.publicKey],
        rootThreshold: 1,
        targets: [k.targets.publicKey],
        releases: [k.releases.publicKey],
        snapshot: [k.snapshot.publicKey],
        timestamp: [k.timestamp.publicKey],
      },
      {
        root: [await signer(k.root)],
        targets: [await signer(k.targets)],
        releases: [await signer(k.releases)],
        snapshot: [await signer(k.snapshot)],
        timestamp: [await signer(k.timestamp)],
      },
      start,
    );
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
    const signers = await freshnessSigners(new KeyStore(store.dir, { onlineOnly: true }), ONLINE);
    await director.register(
      { deviceId: 'dev-1', ecus: [{ serial: 'e1', hardwareId: 'hw' }], publicKey: k.root.publicKey },
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
