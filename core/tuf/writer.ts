import { createHash } from 'node:crypto';
import { canonicalBytes } from './canonical.ts';
import { checkPlainRoleName } from './file-names.ts';
import { keyIdOf, type TufPublicKey } from './keys.ts';
import type { Signer } from './signer.ts';
import { checkTargetPath } from './target-path.ts';

/** TUF spec version Uproll writes. */
export const SPEC_VERSION = '1.0.31';

type Json = Record<string, unknown>;

/** Which keys may sign a role, and how many must. */
export interface RoleKeysSpec {
  keys: readonly TufPublicKey[];
  threshold: number;
}

export interface TargetSpec {
  length: number;
  hashes: Record<string, string>;
  custom?: Json;
}

export interface DelegationSpec extends RoleKeysSpec {
  name: string;
  paths: readonly string[];
  terminating: boolean;
}

const keyMap = (keys: readonly TufPublicKey[]) => Object.fromEntries(keys.map((key) => [keyIdOf(key), key]));
const keyIds = (keys: readonly TufPublicKey[]) => [...new Set(keys.map(keyIdOf))];

/** The signed part of root metadata. */
export function rootSigned(input: {
  version: number;
  expires: Date;
  consistentSnapshot: boolean;
  roles: Record<'root' | 'targets' | 'snapshot' | 'timestamp', RoleKeysSpec>;
}): Json {
  const all = Object.values(input.roles).flatMap((role) => role.keys);
  return {
    _type: 'root',
    spec_version: SPEC_VERSION,
    version: input.version,
    expires: tufDate(input.expires),
    consistent_snapshot: input.consistentSnapshot,
    keys: keyMap(all),
    roles: Object.fromEntries(
      Object.entries(input.roles).map(([name, role]) => [
        name,
        { keyids: keyIds(role.keys), threshold: role.threshold },
      ]),
    ),
  };
}

/**
 * The signed part of targets metadata (top-level or delegated). Target paths
 * must be plain relative paths (INVALID_TARGET_PATH) and delegated role names
 * plain names a repository can write as they are (INVALID_ROLE_NAME): a
 * repository never publishes a name that could leave a client's directory.
 */
export function targetsSigned(input: {
  version: number;
  expires: Date;
  targets: Record<string, TargetSpec>;
  delegations?: readonly DelegationSpec[];
  extra?: Json;
}): Json {
  for (const path of Object.keys(input.targets)) checkTargetPath(path);
  for (const delegation of input.delegations ?? []) checkPlainRoleName(delegation.name);
  const delegations = input.delegations?.length
    ? {
        keys: keyMap(input.delegations.flatMap((d) => d.keys)),
        roles: input.delegations.map((d) => ({
          name: d.name,
          keyids: keyIds(d.keys),
          threshold: d.threshold,
          paths: [...d.paths],
          terminating: d.terminating,
        })),
      }
    : undefined;
  return {
    _type: 'targets',
    spec_version: SPEC_VERSION,
    version: input.version,
    expires: tufDate(input.expires),
    targets: input.targets,
    ...(delegations ? { delegations } : {}),
    ...input.extra,
  };
}

/** The signed part of snapshot metadata: version, length and hashes of every targets role. */
export function snapshotSigned(input: { version: number; expires: Date; meta: Record<string, Json> }): Json {
  return {
    _type: 'snapshot',
    spec_version: SPEC_VERSION,
    version: input.version,
    expires: tufDate(input.expires),
    meta: input.meta,
  };
}

/** The signed part of timestamp metadata, naming the snapshot by version, length and hash. */
export function timestampSigned(input: {
  version: number;
  expires: Date;
  snapshot: { version: number; bytes: Uint8Array };
}): Json {
  return {
    _type: 'timestamp',
    spec_version: SPEC_VERSION,
    version: input.version,
    expires: tufDate(input.expires),
    meta: { 'snapshot.json': { version: input.snapshot.version, ...describeFile(input.snapshot.bytes) } },
  };
}

/** Length and sha256 of some bytes, as metadata lists files. */
export function describeFile(bytes: Uint8Array): { length: number; hashes: { sha256: string } } {
  return { length: bytes.byteLength, hashes: { sha256: createHash('sha256').update(bytes).digest('hex') } };
}

/**
 * Signs a signed part into metadata bytes: `{"signatures":[...],"signed":...}`
 * with every object's keys sorted, so clients can check it without re-sorting.
 */
export async function signEnvelope(signed: Json, signers: readonly Signer[]): Promise<Uint8Array> {
  const data = canonicalBytes(signed);
  const signatures = [];
  for (const signer of signers) {
    signatures.push({ keyid: signer.keyId, sig: Buffer.from(await signer.sign(data)).toString('hex') });
  }
  return new TextEncoder().encode(JSON.stringify({ signatures, signed: sortKeys(signed) }));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value !== 'object' || value === null) return value;
  const record = value as Record<string, unknown>;
  return Object.fromEntries(
    Object.keys(record)
      .sort()
      .map((key) => [key, sortKeys(record[key])]),
  );
}

/** A date as TUF metadata writes it: whole seconds, UTC, with a Z. */
export function tufDate(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}
