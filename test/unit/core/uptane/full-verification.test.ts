import { beforeEach, describe, expect, it } from 'vitest';
import { NO_CACHE, TrustedRepository, type MetadataCache } from '../../../../core/tuf/index.ts';
import { fullVerification, verificationTime, type DeviceIdentity } from '../../../../core/uptane/index.ts';
import { newSigner } from '../../../helpers/keys.ts';
import { MockRepository, NOW, targetOf, type TargetSpec } from '../../../helpers/mock-repository.ts';
import { fixtureDaysFromNow } from '../../../helpers/fixture-time.ts';
import { memoryCache } from '../../../helpers/tuf-client.ts';

const rootfs = new TextEncoder().encode('rootfs 2 for rpi4');
const device: DeviceIdentity = { deviceId: 'dev-1', ecus: [{ serial: 'ecu-1', hardwareId: 'rpi4' }] };

let image: MockRepository;
let director: MockRepository;
let anchors: { image: Uint8Array; director: Uint8Array };
let installed: Record<string, { releaseCounter: number }>;

function imageTarget(
  overrides: Partial<TargetSpec> = {},
  custom = { hardwareIds: ['rpi4'], releaseCounter: 2 },
): TargetSpec {
  return { ...targetOf(rootfs, custom), ...overrides };
}
function directorTarget(
  custom: Record<string, unknown> = {},
  overrides: Partial<TargetSpec> = {},
): TargetSpec {
  return {
    ...targetOf(rootfs, {
      ecuIdentifiers: { 'ecu-1': { hardwareId: 'rpi4' } },
      releaseCounter: 2,
      ...custom,
    }),
    ...overrides,
  };
}

beforeEach(async () => {
  image = new MockRepository();
  image.delegate({ name: 'releases', paths: ['rootfs-*'], targets: { 'rootfs-2.img': imageTarget() } });
  director = new MockRepository();
  director.targetsExtra = { custom: { deviceId: 'dev-1' } };
  director.targets['rootfs-2.img'] = directorTarget();
  anchors = { image: await image.publishRoot(), director: await director.publishRoot() };
  installed = { 'ecu-1': { releaseCounter: 1 } };
});

/** Publishes both repositories (unless told not to) and runs full verification as the device. */
async function verify(now = NOW, options: { publish?: boolean; imageCache?: MetadataCache } = {}) {
  if (options.publish !== false) {
    await image.publish();
    await director.publish();
  }
  return fullVerification({
    director: {
      repository: new TrustedRepository(anchors.director, { name: 'director' }),
      fetch: director.fetcher,
      cache: NO_CACHE,
    },
    image: {
      repository: new TrustedRepository(anchors.image, { name: 'image' }),
      fetch: image.fetcher,
      cache: options.imageCache ?? NO_CACHE,
    },
    device,
    installed,
    now,
  });
}

async function expectCode(code: string) {
  await expect(verify()).rejects.toMatchObject({ code });
}

describe('Uptane full verification', () => {
  it('returns the image both repositories agree on for the ECU', async () => {
    expect(await verify()).toEqual([
      {
        ecuSerial: 'ecu-1',
        hardwareId: 'rpi4',
        path: 'rootfs-2.img',
        length: rootfs.byteLength,
        hashes: targetOf(rootfs).hashes,
        releaseCounter: 2,
        imageRole: 'releases',
      },
    ]);
  });

  it('returns nothing when the Director assigns nothing, as long as its targets name this device', async () => {
    delete director.targets['rootfs-2.img'];
    expect(await verify()).toEqual([]);
  });

  describe('when the Director and the Image repository disagree', () => {
    it('on the length', async () => {
      director.targets['rootfs-2.img'] = directorTarget({}, { length: rootfs.byteLength + 1 });
      await expectCode('DIRECTOR_IMAGE_MISMATCH');
    });

    it('on a hash', async () => {
      director.targets['rootfs-2.img'] = directorTarget({}, { hashes: { sha256: 'ab'.repeat(32) } });
      await expectCode('DIRECTOR_IMAGE_MISMATCH');
    });

    it('on which hashes they list at all', async () => {
      director.targets['rootfs-2.img'] = directorTarget({}, { hashes: { sha512: 'ab'.repeat(64) } });
      await expectCode('DIRECTOR_IMAGE_MISMATCH');
    });

    it('on the release counter', async () => {
      director.targets['rootfs-2.img'] = directorTarget({ releaseCounter: 3 });
      await expectCode('DIRECTOR_IMAGE_MISMATCH');
    });

    it('keeps the delegated Image role that verified before the match failed', async () => {
      director.targets['rootfs-2.img'] = directorTarget({}, { length: rootfs.byteLength + 1 });
      const imageCache = memoryCache();
      await expect(verify(NOW, { imageCache })).rejects.toMatchObject({ code: 'DIRECTOR_IMAGE_MISMATCH' });
      expect(imageCache.files.get('releases')).toEqual(image.served('releases'));
    });
  });

  describe('hardware ids', () => {
    it("rejects a Director target naming another hardware id than the ECU's", async () => {
      director.targets['rootfs-2.img'] = directorTarget({
        ecuIdentifiers: { 'ecu-1': { hardwareId: 'rpi3' } },
      });
      await expectCode('HARDWARE_MISMATCH');
    });

    it('rejects an image the Image repository did not build for this hardware', async () => {
      image.delegations[0]!.targets['rootfs-2.img'] = imageTarget(
        {},
        { hardwareIds: ['imx8'], releaseCounter: 2 },
      );
      await expectCode('HARDWARE_MISMATCH');
    });
  });

  describe('ECUs', () => {
    it('rejects a target for an ECU that is not on this device', async () => {
      director.targets['rootfs-2.img'] = directorTarget({
        ecuIdentifiers: { 'ecu-9': { hardwareId: 'rpi4' } },
      });
      await expectCode('ECU_MISMATCH');
    });

    it('rejects two targets for the same ECU', async () => {
      director.targets['rootfs-2b.img'] = directorTarget();
      await expectCode('ECU_MISMATCH');
    });

    it('rejects Director targets made for another device, even empty ones', async () => {
      delete director.targets['rootfs-2.img'];
      director.targetsExtra = { custom: { deviceId: 'dev-2' } };
      await expectCode('ECU_MISMATCH');
    });
  });

  describe('the Image repository', () => {
    it('must list the Director target', async () => {
      director.targets['rootfs-3.img'] = director.targets['rootfs-2.img']!;
      delete director.targets['rootfs-2.img'];
      await expectCode('TARGET_NOT_FOUND');
    });

    it('must list it through a delegation that covers its path', async () => {
      image.delegations[0]!.paths = ['apps-*'];
      await expectCode('TARGET_NOT_FOUND');
    });
  });

  it('rejects a release counter lower than the installed one', async () => {
    installed = { 'ecu-1': { releaseCounter: 5 } };
    await expectCode('RELEASE_COUNTER_ROLLBACK');
  });

  it('rejects Director targets that delegate', async () => {
    director.delegate({ name: 'sneaky' });
    await expectCode('DELEGATION_NOT_ALLOWED');
  });

  it('rejects Director targets signed by a targets key after it was rotated away', async () => {
    const oldKey = director.signers.targets;
    director.signers.targets = [newSigner()];
    director.versions.root = 2;
    await director.publishRoot();
    await image.publish();
    await director.publish();
    const forged = JSON.parse(new TextDecoder().decode(director.served('targets'))) as {
      signed: Record<string, unknown>;
    };
    director.hashesInSnapshot = false;
    await director.publishSnapshot({ 'targets.json': { version: forged.signed['version'] } });
    director.files.set('targets.json', await MockRepository.sign(forged.signed, oldKey));
    await expect(verify(NOW, { publish: false })).rejects.toMatchObject({ code: 'THRESHOLD_NOT_MET' });
  });

  it('refuses Director targets without the device id they were made for', async () => {
    director.targetsExtra = {};
    await expectCode('BAD_METADATA');
  });
});

describe('verification time', () => {
  const lastVerified = fixtureDaysFromNow(-1.5);

  it('is the device clock when it moves forward', () => {
    expect(verificationTime(NOW, lastVerified)).toEqual(NOW);
  });

  it('never goes back before the last verification, so expired metadata stays expired', async () => {
    image.expires.timestamp = fixtureDaysFromNow(-2.5).toISOString();
    const clockSetBack = fixtureDaysFromNow(-20.5);
    const now = verificationTime(clockSetBack, lastVerified);
    expect(now).toEqual(lastVerified);
    await expect(verify(now)).rejects.toMatchObject({ code: 'FREEZE_ATTACK' });
  });
});
