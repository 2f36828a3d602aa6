import type { Key, Metadata } from '@tufjs/models';
import { UprollError } from '../errors.ts';
import { verifyTufSignature } from './keys.ts';
import { signedBytes, type Root, type Snapshot, type Targets, type Timestamp } from './metadata.ts';

/** A role as a delegator names it: which keys may sign and how many must. */
export interface RoleKeys {
  keyIDs: readonly string[];
  threshold: number;
}

/**
 * TUF 5.3.4, 5.4.2, 5.5.3, 5.6.3: metadata is trusted only when at least `threshold`
 * distinct trusted keys signed it. Distinct means distinct public keys: a
 * keyid listed twice, or one key listed under two keyids, counts once.
 * Unknown keyids count for nothing, and a threshold below 1 is never met.
 */
export function verifyThreshold(
  roleName: string,
  role: RoleKeys,
  keys: Record<string, Key>,
  metadata: Metadata<Root | Timestamp | Snapshot | Targets>,
): void {
  if (!Number.isInteger(role.threshold) || role.threshold < 1) {
    throw new UprollError(
      'THRESHOLD_NOT_MET',
      `${roleName} has threshold ${role.threshold}; it must be at least 1`,
    );
  }
  let data: Uint8Array;
  try {
    data = signedBytes(metadata);
  } catch (cause) {
    // Canonical JSON has no form for some values (e.g. non-integer numbers): nothing could have signed them.
    throw new UprollError('BAD_METADATA', `${roleName} cannot be put in canonical JSON`, { cause });
  }
  const signedBy = new Set<string>();
  for (const keyId of new Set(role.keyIDs)) {
    const key = keys[keyId];
    const signature = metadata.signatures[keyId];
    if (!key || !signature) continue;
    const publicKey = {
      keytype: key.keyType,
      scheme: key.scheme,
      keyval: { public: key.keyVal.public ?? '' },
    };
    if (verifyTufSignature(publicKey, data, signature.sig))
      signedBy.add(`${key.keyType}:${publicKey.keyval.public}`);
    if (signedBy.size >= role.threshold) return;
  }
  throw new UprollError(
    'THRESHOLD_NOT_MET',
    `${roleName} is signed by ${signedBy.size} of the ${role.threshold} distinct trusted keys it needs`,
  );
}
