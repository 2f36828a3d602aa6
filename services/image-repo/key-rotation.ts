import { UprollError } from '../../core/index.ts';
import {
  IMAGE_ROLES,
  proposeRoot,
  replaceRoleKey,
  rootNames,
  roleSigners,
  signRootProposal,
  type ImageRole,
  type KeyRecord,
  type KeyStore,
} from '../../keys/index.ts';
import { expiresAt } from '../repo/index.ts';
import type { ImageRepository, RepositoryVersions } from './image-repository.ts';

export interface Passphrases {
  offline: string;
  online: string;
}

/**
 * Replaces the keys of one role with a fresh key, on one machine that holds
 * the root keys: timestamp, snapshot and targets through a new root signed
 * by the root keys; releases through new top-level targets. The replaced keys
 * are marked revoked with `reason`. All or nothing: every signer is opened
 * before the new key is made, and a failed rotation leaves no key behind.
 */
export async function rotateImageRole(
  store: KeyStore,
  repository: ImageRepository,
  role: Exclude<ImageRole, 'root'>,
  passphrases: Passphrases,
  now: Date,
  reason = 'rotated',
): Promise<{ versions: RepositoryVersions; added: KeyRecord; revoked: KeyRecord[] }> {
  const { online } = IMAGE_ROLES[role];
  const open = (name: ImageRole) =>
    name === role
      ? Promise.resolve([])
      : roleSigners(
          store,
          'image',
          name,
          IMAGE_ROLES[name].online ? passphrases.online : passphrases.offline,
        );
  const current = {
    snapshot: await open('snapshot'),
    timestamp: await open('timestamp'),
    // Releases change through the targets keys, the others through the root keys.
    targets: role === 'releases' ? await open('targets') : [],
    root: role === 'releases' ? [] : await open('root'),
  };
  const { published, added, revoked } = await replaceRoleKey(
    store,
    {
      repository: 'image',
      role,
      online,
      passphrase: online ? passphrases.online : passphrases.offline,
      now,
      reason,
    },
    async (key, signer) => {
      // The rotated role signs with its new key only; the others with their current keys.
      const online = {
        snapshot: role === 'snapshot' ? [signer] : current.snapshot,
        timestamp: role === 'timestamp' ? [signer] : current.timestamp,
      };
      if (role === 'releases') {
        const signers = { ...online, targets: current.targets, releases: [signer] };
        return repository.rotateReleasesKeys([key.publicKey], signers, now);
      }
      let proposal = await proposeRoot(await repository.currentRootBytes(), {
        replace: { [role]: [key.publicKey] },
        expires: expiresAt(repository.policy, 'root', now),
      });
      for (const rootSigner of current.root) proposal = await signRootProposal(proposal, rootSigner);
      return repository.publishRoot(
        proposal,
        { ...online, ...(role === 'targets' ? { targets: [signer] } : {}) },
        now,
      );
    },
    () => repository.versions(),
  );
  return { versions: published, added, revoked };
}

/** Revokes a key; a key still in a role is first rotated out of it. */
export async function revokeImageKey(
  store: KeyStore,
  repository: ImageRepository,
  keyId: string,
  reason: string,
  passphrases: Passphrases,
  now: Date,
): Promise<KeyRecord> {
  const record = await store.get(keyId);
  if (record.repository === 'director')
    throw new UprollError('INVALID_INPUT', `key ${record.keyId} is a Director key: see revokeDirectorKey`);
  if (record.revoked) return record;
  if (record.repository === 'image' && record.role !== 'root' && record.role in IMAGE_ROLES) {
    await rotateImageRole(
      store,
      repository,
      record.role as Exclude<ImageRole, 'root'>,
      passphrases,
      now,
      reason,
    );
    return store.get(keyId);
  }
  // A root key leaves the root through a ceremony; once the served root no longer names it, it can be revoked.
  if (record.role === 'root' && rootNames(await repository.currentRootBytes(), record.keyId)) {
    throw new UprollError(
      'INVALID_INPUT',
      `root key ${record.keyId.slice(0, 16)} is in the current root: remove it first (uproll keys root propose --remove)`,
    );
  }
  return store.revoke(keyId, reason, now);
}
