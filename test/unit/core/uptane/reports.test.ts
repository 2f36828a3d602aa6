import { describe, expect, it } from 'vitest';
import {
  signDeviceManifest,
  signEcuVersionReport,
  signPrimaryManifest,
  verifyDeviceManifest,
  type EcuVersionReport,
} from '../../../../core/uptane/index.ts';
import { newSigner } from '../../../helpers/keys.ts';

const deviceKey = newSigner();
const report: EcuVersionReport = {
  ecuSerial: 'ecu-1',
  installedImage: { filepath: 'rootfs-2.img', fileinfo: { length: 10, hashes: { sha256: 'ab'.repeat(32) } } },
  attacksDetected: '',
  nonce: 'n-1',
  counter: 7,
  time: '2026-11-21T12:00:00.000Z',
};

async function manifestBytes(
  overrides: { counter?: number; signer?: typeof deviceKey; report?: Partial<EcuVersionReport> } = {},
) {
  const signer = overrides.signer ?? deviceKey;
  const signedReport = await signEcuVersionReport({ ...report, ...overrides.report }, signer);
  const manifest = await signDeviceManifest(
    {
      deviceId: 'dev-1',
      primaryEcuSerial: 'ecu-1',
      ecuVersionReports: { 'ecu-1': signedReport },
      counter: overrides.counter ?? 7,
      time: '2026-11-21T12:00:00.000Z',
    },
    signer,
  );
  return new TextEncoder().encode(JSON.stringify(manifest));
}

const expected = {
  deviceKey: deviceKey.publicKey,
  ecuKeys: { 'ecu-1': deviceKey.publicKey },
  lastCounter: 6,
  nonce: 'n-1',
};

describe('signed device reports', () => {
  it('verify when signed by the registered key, fresh and with the nonce sent', async () => {
    const manifest = verifyDeviceManifest(await manifestBytes(), expected);
    expect(manifest.ecuVersionReports['ecu-1']?.signed.installedImage.filepath).toBe('rootfs-2.img');
  });

  it('reject a manifest signed by another key', async () => {
    await expect(
      manifestBytes({ signer: newSigner() }).then((b) => verifyDeviceManifest(b, expected)),
    ).rejects.toMatchObject({
      code: 'BAD_SIGNATURE',
    });
  });

  it('reject a replayed counter', async () => {
    const bytes = await manifestBytes({ counter: 6 });
    expect(() => verifyDeviceManifest(bytes, expected)).toThrowWithCode('REPLAYED_REPORT');
  });

  it('reject a report without the nonce the server sent', async () => {
    const bytes = await manifestBytes({ report: { nonce: 'old' } });
    expect(() => verifyDeviceManifest(bytes, expected)).toThrowWithCode('REPLAYED_REPORT');
  });

  it('reject a report for an ECU that is not registered', async () => {
    const bytes = await manifestBytes();
    expect(() => verifyDeviceManifest(bytes, { ...expected, ecuKeys: {} })).toThrowWithCode('ECU_MISMATCH');
  });

  it('reject a manifest altered after signing', async () => {
    const text = new TextDecoder().decode(await manifestBytes()).replace('"counter":7', '"counter":70');
    expect(() => verifyDeviceManifest(new TextEncoder().encode(text), expected)).toThrowWithCode(
      'BAD_SIGNATURE',
    );
  });

  it('reject an oversized manifest before parsing it', () => {
    expect(() => verifyDeviceManifest(new Uint8Array(65 * 1024), expected)).toThrowWithCode(
      'INPUT_TOO_LARGE',
    );
  });
});

describe('the manifest of a device whose only ECU is its primary', () => {
  const input = {
    deviceId: 'dev-1',
    primaryEcuSerial: 'ecu-1',
    installed: { path: 'revisions/2.0.json', length: 10, hashes: { sha256: 'ab'.repeat(32) } },
    attacksDetected: 'FREEZE_ATTACK',
    counter: 7,
    time: '2026-11-21T12:00:00.000Z',
  };
  const verify = (manifest: Awaited<ReturnType<typeof signPrimaryManifest>>) =>
    verifyDeviceManifest(new TextEncoder().encode(JSON.stringify(manifest)), {
      deviceKey: deviceKey.publicKey,
      ecuKeys: { 'ecu-1': deviceKey.publicKey },
      lastCounter: 6,
    });

  it('names the target the primary runs and the attacks it saw, signed by the device key twice over', async () => {
    const manifest = verify(
      await signPrimaryManifest({ ...input, trustedRoots: { image: 2, director: 1 } }, deviceKey),
    );
    expect(manifest).toMatchObject({
      deviceId: 'dev-1',
      counter: 7,
      trustedRoots: { image: 2, director: 1 },
    });
    expect(manifest.ecuVersionReports['ecu-1']?.signed).toEqual({
      ecuSerial: 'ecu-1',
      installedImage: {
        filepath: 'revisions/2.0.json',
        fileinfo: { length: 10, hashes: input.installed.hashes },
      },
      attacksDetected: 'FREEZE_ATTACK',
      counter: 7,
      time: input.time,
    });
  });

  it('reports an empty image before the first install, and no trusted roots when none are given', async () => {
    const manifest = verify(await signPrimaryManifest({ ...input, installed: undefined }, deviceKey));
    expect(manifest.trustedRoots).toBeUndefined();
    expect(manifest.ecuVersionReports['ecu-1']?.signed.installedImage).toEqual({
      filepath: '',
      fileinfo: { length: 0, hashes: {} },
    });
  });
});
