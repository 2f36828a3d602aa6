import { z } from 'zod';
import { UprollError } from '../errors.ts';
import { parseJson } from '../parse.ts';
import { canonicalBytes, keyIdOf, verifyTufSignature, type Signer, type TufPublicKey } from '../tuf/index.ts';

/** Byte cap on a device manifest as it arrives from a device. */
export const MAX_MANIFEST_BYTES = 64 * 1024;

const hashesSchema = z.record(z.string().max(16), z.string().regex(/^[0-9a-f]{1,128}$/));
const signaturesSchema = z
  .array(z.object({ keyid: z.string().max(128), sig: z.string().max(1024) }))
  .min(1)
  .max(8);

/** What one ECU reports: the image it runs, attacks it detected, and freshness (nonce, counter, time). */
export const ecuVersionReportSchema = z.object({
  ecuSerial: z.string().min(1).max(128),
  installedImage: z.object({
    filepath: z.string().max(1024),
    fileinfo: z.object({ length: z.int().min(0), hashes: hashesSchema }),
  }),
  /** Empty when none; otherwise the attack codes of failed verifications, comma separated. */
  attacksDetected: z.string().max(1024),
  nonce: z.string().max(128).optional(),
  counter: z.int().min(0),
  time: z.iso.datetime(),
});
export type EcuVersionReport = z.infer<typeof ecuVersionReportSchema>;

const signedReportSchema = z.object({ signed: ecuVersionReportSchema, signatures: signaturesSchema });
export type SignedEcuVersionReport = z.infer<typeof signedReportSchema>;

/** The device's report to the Director: one signed version report per ECU. */
export const deviceManifestSchema = z.object({
  deviceId: z.string().min(1).max(128),
  primaryEcuSerial: z.string().min(1).max(128),
  ecuVersionReports: z.record(z.string().max(128), signedReportSchema),
  counter: z.int().min(0),
  time: z.iso.datetime(),
  /** The root versions the device trusts now: which keys it still accepts. */
  trustedRoots: z.object({ image: z.int().min(1), director: z.int().min(1) }).optional(),
});
export type DeviceManifest = z.infer<typeof deviceManifestSchema>;

const signedManifestSchema = z.object({ signed: deviceManifestSchema, signatures: signaturesSchema });
export type SignedDeviceManifest = z.infer<typeof signedManifestSchema>;

/** Signs a value as `{ signed, signatures }` over its canonical JSON. */
async function signValue<T>(
  signed: T,
  signer: Signer,
): Promise<{ signed: T; signatures: { keyid: string; sig: string }[] }> {
  const sig = Buffer.from(await signer.sign(canonicalBytes(signed))).toString('hex');
  return { signed, signatures: [{ keyid: signer.keyId, sig }] };
}

export function signEcuVersionReport(
  report: EcuVersionReport,
  ecuKey: Signer,
): Promise<SignedEcuVersionReport> {
  return signValue(report, ecuKey);
}

export function signDeviceManifest(
  manifest: DeviceManifest,
  deviceKey: Signer,
): Promise<SignedDeviceManifest> {
  return signValue(manifest, deviceKey);
}

/** What a device with one ECU (its primary) states in its manifest, before anything is signed. */
export interface PrimaryManifestInput {
  deviceId: string;
  primaryEcuSerial: string;
  /** The Image repository target the primary runs; undefined on a device that never installed one. */
  installed: { path: string; length: number; hashes: Readonly<Record<string, string>> } | undefined;
  /** Attack codes of failed verifications, comma separated; empty when none. */
  attacksDetected: string;
  /** Only grows: the Director refuses a manifest whose counter is not above the last it accepted. */
  counter: number;
  time: string;
  /** The root versions the device trusts now, when it knows them. */
  trustedRoots?: DeviceManifest['trustedRoots'];
}

/** The primary ECU's version report: the image it runs (empty before its first install), attacks seen, freshness. */
export function primaryVersionReport(input: PrimaryManifestInput): EcuVersionReport {
  const { installed } = input;
  return {
    ecuSerial: input.primaryEcuSerial,
    installedImage: {
      filepath: installed?.path ?? '',
      fileinfo: { length: installed?.length ?? 0, hashes: { ...installed?.hashes } },
    },
    attacksDetected: input.attacksDetected,
    counter: input.counter,
    time: input.time,
  };
}

/** The device manifest around the primary's signed version report, with the same counter and time. */
export function primaryDeviceManifest(
  input: PrimaryManifestInput,
  report: SignedEcuVersionReport,
): DeviceManifest {
  return {
    deviceId: input.deviceId,
    primaryEcuSerial: input.primaryEcuSerial,
    ecuVersionReports: { [input.primaryEcuSerial]: report },
    counter: input.counter,
    time: input.time,
    ...(input.trustedRoots ? { trustedRoots: input.trustedRoots } : {}),
  };
}

/**
 * The signed manifest of a device whose primary is its only ECU, as the
 * agent (and the simulated fleet) send it after an update ends: the
 * primary's version report and the manifest, both signed with `deviceKey`
 * (the primary's key is the device's).
 */
export async function signPrimaryManifest(
  input: PrimaryManifestInput,
  deviceKey: Signer,
): Promise<SignedDeviceManifest> {
  const report = await signEcuVersionReport(primaryVersionReport(input), deviceKey);
  return signDeviceManifest(primaryDeviceManifest(input, report), deviceKey);
}

export interface ManifestExpectations {
  /** The device's registered public key. */
  deviceKey: TufPublicKey;
  /** Public keys of the device's ECUs by serial; the primary's is usually the device key. */
  ecuKeys: Readonly<Record<string, TufPublicKey>>;
  /** The highest manifest counter accepted from this device so far. */
  lastCounter?: number;
  /** The nonce the server sent with its last command, when it requires one back. */
  nonce?: string;
}

/**
 * Verifies a device manifest from the network: byte cap and schema, the
 * device's signature, every ECU report's signature, and freshness (a counter
 * above the last one accepted, the expected nonce). Returns the manifest.
 */
export function verifyDeviceManifest(bytes: Uint8Array, expected: ManifestExpectations): DeviceManifest {
  const manifest = parseJson(signedManifestSchema, bytes, {
    maxBytes: MAX_MANIFEST_BYTES,
    what: 'device manifest',
  });
  checkSignature(manifest, expected.deviceKey, `manifest of device ${manifest.signed.deviceId}`);
  if (expected.lastCounter !== undefined && manifest.signed.counter <= expected.lastCounter) {
    throw new UprollError(
      'REPLAYED_REPORT',
      `manifest counter ${manifest.signed.counter} is not above the last accepted ${expected.lastCounter}`,
    );
  }
  for (const [serial, report] of Object.entries(manifest.signed.ecuVersionReports)) {
    const key = expected.ecuKeys[serial];
    if (!key || report.signed.ecuSerial !== serial) {
      throw new UprollError(
        'ECU_MISMATCH',
        `the manifest reports for ECU ${serial}, which is not registered to this device`,
      );
    }
    checkSignature(report, key, `version report of ECU ${serial}`);
    if (expected.nonce !== undefined && report.signed.nonce !== expected.nonce) {
      throw new UprollError(
        'REPLAYED_REPORT',
        `the version report of ECU ${serial} does not carry the nonce it was sent`,
      );
    }
  }
  return manifest.signed;
}

function checkSignature(
  value: { signed: unknown; signatures: { keyid: string; sig: string }[] },
  key: TufPublicKey,
  what: string,
): void {
  const keyId = keyIdOf(key);
  const signature = value.signatures.find((s) => s.keyid === keyId);
  if (!signature || !verifyTufSignature(key, canonicalBytes(value.signed), signature.sig)) {
    throw new UprollError('BAD_SIGNATURE', `the ${what} is not signed by its registered key`);
  }
}
