import {
  Metadata,
  MetadataKind,
  Root,
  Signature,
  Snapshot,
  TargetFile,
  Targets,
  Timestamp,
} from '@tufjs/models';
import { UprollError } from '../errors.ts';
import { canonicalBytes } from './canonical.ts';
import type { Signer } from './signer.ts';

export { Metadata, MetadataKind, Root, Snapshot, Targets, Timestamp };

/** Byte caps on each role's metadata as fetched (TUF 5.2: an upper bound on every download). */
export interface MetadataByteCaps {
  root: number;
  timestamp: number;
  snapshot: number;
  targets: number;
}

export const DEFAULT_BYTE_CAPS: MetadataByteCaps = {
  root: 512 * 1024,
  timestamp: 16 * 1024,
  snapshot: 2 * 1024 * 1024,
  targets: 5 * 1024 * 1024,
};

type Signed = { root: Root; timestamp: Timestamp; snapshot: Snapshot; targets: Targets };
export type RoleKind = keyof Signed;

const KINDS: Record<RoleKind, MetadataKind> = {
  root: MetadataKind.Root,
  timestamp: MetadataKind.Timestamp,
  snapshot: MetadataKind.Snapshot,
  targets: MetadataKind.Targets,
};

/**
 * Parses untrusted metadata bytes: byte cap first (ENDLESS_DATA), then JSON
 * and the TUF model, which checks `_type` and the spec major version
 * (BAD_METADATA). Unrecognized fields are kept, and so stay covered by the
 * signatures. Nothing is trusted yet: signatures are checked by the caller.
 */
export function parseMetadata<K extends RoleKind>(
  kind: K,
  bytes: Uint8Array,
  maxBytes: number,
  what: string = kind,
): Metadata<Signed[K]> {
  if (bytes.byteLength > maxBytes) {
    throw new UprollError(
      'ENDLESS_DATA',
      `${what} metadata is ${bytes.byteLength} bytes, more than its ${maxBytes}-byte cap`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (cause) {
    throw new UprollError('BAD_METADATA', `${what} metadata is not UTF-8 JSON`, { cause });
  }
  if (!isRecord(json) || !isRecord(json['signed'])) {
    throw new UprollError('BAD_METADATA', `${what} metadata is not a JSON object with a signed object`);
  }
  let metadata: Metadata<Signed[K]>;
  try {
    metadata = fromJson(kind, json, json['signed']);
  } catch (cause) {
    throw new UprollError('BAD_METADATA', `${what} metadata is invalid: ${(cause as Error).message}`, {
      cause,
    });
  }
  // Signatures cover the signed object as received, not a re-serialization of the model.
  receivedSigned.set(metadata, json['signed']);
  return metadata;
}

// The signed part of each parsed metadata exactly as it arrived.
const receivedSigned = new WeakMap<object, Record<string, unknown>>();

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fromJson<K extends RoleKind>(
  kind: K,
  json: Record<string, unknown>,
  signed: Record<string, unknown>,
): Metadata<Signed[K]> {
  // fromJSON is overloaded per kind; this picks the kind at run time.
  const parse = (type: MetadataKind, data: Record<string, unknown>) =>
    Metadata.fromJSON(type as MetadataKind.Root, data as never) as unknown as Metadata<Signed[K]>;
  if (kind !== 'targets' || !isRecord(signed['targets'])) return parse(KINDS[kind], json);
  // @tufjs/models builds the target map in quadratic time; build it in linear time here
  // (a large release history must not become a denial of service), the rest by the model.
  const metadata = parse(KINDS.targets, { ...json, signed: { ...signed, targets: {} } });
  const targets = Object.fromEntries(
    Object.entries(signed['targets']).map(([path, target]) => [
      path,
      TargetFile.fromJSON(path, target as never),
    ]),
  );
  Object.defineProperty(metadata.signed, 'targets', { value: targets, enumerable: true });
  return metadata;
}

/** The canonical bytes of the `signed` part: what every signature covers. */
export function signedBytes(metadata: Metadata<Signed[RoleKind]>): Uint8Array {
  return canonicalBytes(receivedSigned.get(metadata) ?? metadata.signed.toJSON());
}

/** Adds (or replaces) each signer's signature over the metadata's signed part. */
export async function signMetadata(
  metadata: Metadata<Signed[RoleKind]>,
  signers: readonly Signer[],
): Promise<void> {
  const bytes = signedBytes(metadata);
  for (const signer of signers) {
    const sig = Buffer.from(await signer.sign(bytes)).toString('hex');
    metadata.signatures[signer.keyId] = new Signature({ keyID: signer.keyId, sig });
  }
}
