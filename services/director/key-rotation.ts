import { UprollError } from '../../core/index.ts';
import {
  proposeRoot,
  replaceRoleKey,
  rootNames,
  roleSigners,
  signRootProposal,
  type CurrentRoleSigners,
  type KeyRecord,
  type KeyStore,
} from '../../keys/index.ts';
import type { Passphrases } from '../image-repo/index.ts';
import { DIRECTOR_EXPIRY_DAYS, expiresAt } from '../repo/index.ts';
import type { DirectorRepository } from './director-repository.ts';

/** The Director's roles with online keys (its root keys are offline). */
export const DIRECTOR_ONLINE_ROLES = ['targets', 'snapshot', 'timestamp'] as const;
export type DirectorOnlineRole = (typeof DIRECTOR_ONLINE_ROLES)[number];

/** The signers of the Director's online roles, as the key store has them now. */
export async function directorOnlineSigners(keys: CurrentRoleSigners) {
  return {
    targets: await keys.of('director', 'targets'),
    snapshot: await keys.of('director', 'snapshot'),
    timestamp: await keys.of('director', 'timestamp'),
  };
}

/**
 * Replaces the key of one of the Director's online roles with a fresh key:
 * Director root N+1 names it, signed by the Director root keys of this key
 * store, and every device's metadata is re-signed with it, so devices follow
 * the rotation through the verified root chain. The replaced keys are marked
 * revoked with `reason`. All or nothing, as the Image repository's rotation.
 */
export async function rotateDirectorRole(
  store: KeyStore,
  director: DirectorRepository,
  role: DirectorOnlineRole,
  passphrases: Passphrases,
  now: Date,
  reason = 'rotated',
): Promise<{ root: number; added: KeyRecord; revoked: KeyRecord[] }> {
  // Every signer first: a wrong passphrase fails before anything is written.
  const root = await roleSigners(store, 'director', 'root', passphrases.offline);
  const current = {
    targets: role === 'targets' ? [] : await roleSigners(store, 'director', 'targets', passphrases.online),
    snapshot: role === 'snapshot' ? [] : await roleSigners(store, 'director', 'snapshot', passphrases.online),
    timestamp:
      role === 'timestamp' ? [] : await roleSigners(store, 'director', 'timestamp', passphrases.online),
  };
  const { published, added, revoked } = await replaceRoleKey(
    store,
    { repository: 'director', role, online: true, passphrase: passphrases.online, now, reason },
    async (key, signer) => {
      let proposal = await proposeRoot(await director.currentRoot(), {
        replace: { [role]: [key.publicKey] },
        expires: expiresAt(DIRECTOR_EXPIRY_DAYS, 'root', now),
      });
      for (const rootSigner of root) proposal = await signRootProposal(proposal, rootSigner);
      return director.publishRoot(proposal, { ...current, [role]: [signer] }, now);
    },
    () => director.currentRoot().then((bytes) => Buffer.from(bytes).toString('base64')),
  );
  return { root: published, added, revoked };
}

/** Revokes a Director key; a key still in an online role is first rotated out of it. */
export async function revokeDirectorKey(
  store: KeyStore,
  director: DirectorRepository,
  keyId: string,
  reason: string,
  passphrases: Passphrases,
  now: Date,
): Promise<KeyRecord> {
  const record = await store.get(keyId);
  if (record.repository !== 'director')
    throw new UprollError('INVALID_INPUT', `key ${record.keyId} is not a Director key`);
  if (record.revoked) return record;
  if ((DIRECTOR_ONLINE_ROLES as readonly string[]).includes(record.role)) {
    await rotateDirectorRole(store, director, record.role as DirectorOnlineRole, passphrases, now, reason);
    return store.get(record.keyId);
  }
  // A root key leaves the root through a ceremony; once the served root no longer names it, it can be revoked.
  if (record.role === 'root' && rootNames(await director.currentRoot(), record.keyId)) {
    throw new UprollError(
      'INVALID_INPUT',
      `Director root key ${record.keyId.slice(0, 16)} is in the current root: remove it first (uproll keys root propose --repository director --remove)`,
    );
  }
  return store.revoke(record.keyId, reason, now);
}
