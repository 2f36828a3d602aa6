import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UprollError } from '../../core/index.ts';
import {
  IMAGE_ROLES,
  proposeRoot,
  roleKeys,
  roleSigners,
  signRootProposal,
  type ImageRole,
  type KeyRecord,
  type KeyStore,
} from '../../keys/index.ts';
import type { ImageRepository, RepositoryVersions } from './image-repository.ts';

export interface Passphrases {
  offline: string;
  online: string;
}

const DAY = 24 * 60 * 60 * 1000;

/**
 * Replaces the keys of one role with a fresh key, on one machine that holds
 * the root keys: timestamp, snapshot and targets through a new root signed
 * by the root keys; releases through new top-level targets. The replaced keys
 * are marked revoked with `reason`.
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
  const old = await roleKeys(store, 'image', role);
  const added = await store.generate({
    repository: 'image',
    role,
    online,
    passphrase: online ? passphrases.online : passphrases.offline,
    now,
  });
  // The rotated role signs with its new key only; the others with their current keys.
  const signersOf = async (name: 'snapshot' | 'timestamp') =>
    name === role
      ? [await store.signer(added.keyId, passphrases.online)]
      : roleSigners(store, 'image', name, passphrases.online);
  const onlineSigners = async () => ({
    snapshot: await signersOf('snapshot'),
    timestamp: await signersOf('timestamp'),
  });
  let versions: RepositoryVersions;
  if (role === 'releases') {
    versions = await repository.rotateReleasesKeys(
      [added.publicKey],
      {
        targets: await roleSigners(store, 'image', 'targets', passphrases.offline),
        releases: [await store.signer(added.keyId, passphrases.online)],
        ...(await onlineSigners()),
      },
      now,
    );
  } else {
    const current = await repository.versions();
    let proposal = await proposeRoot(
      await readFile(join(repository.metadataDir, `${current.root}.root.json`)),
      {
        replace: { [role]: [added.publicKey] },
        expires: new Date(now.getTime() + repository.policy.root * DAY),
      },
    );
    for (const signer of await roleSigners(store, 'image', 'root', passphrases.offline)) {
      proposal = await signRootProposal(proposal, signer);
    }
    const targets =
      role === 'targets' ? { targets: [await store.signer(added.keyId, passphrases.offline)] } : {};
    versions = await repository.publishRoot(proposal, { ...(await onlineSigners()), ...targets }, now);
  }
  // Only once the repository no longer names them: a failed rotation leaves the old keys usable.
  const revoked = [];
  for (const record of old) revoked.push(await store.revoke(record.keyId, reason, now));
  return { versions, added, revoked };
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
  if (record.role === 'root') {
    throw new UprollError(
      'INVALID_INPUT',
      'a root key leaves through a root change ceremony (uproll keys root propose --remove)',
    );
  }
  return store.revoke(keyId, reason, now);
}
