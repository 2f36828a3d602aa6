import type { Signer } from '../core/tuf/index.ts';
import { roleKeys } from './image-repository-keys.ts';
import type { KeyRecord, KeyStore } from './keystore.ts';

export interface RoleKeyReplacement {
  repository: KeyRecord['repository'];
  role: string;
  online: boolean;
  /** The passphrase of the role's keys: checked on its current keys before the new one is encrypted with it. */
  passphrase: string;
  now: Date;
  /** Kept in the records of the replaced keys. */
  reason: string;
}

/**
 * Replaces the keys of a role with a fresh key, all or nothing. The caller
 * opens every other signer it needs first, so a wrong passphrase fails
 * before anything is written; `publish` then makes the repository name the
 * new key. Should it fail while `served()` still answers what it answered
 * before, the new key is discarded; once published, the old keys are revoked.
 */
export async function replaceRoleKey<T>(
  store: KeyStore,
  replacement: RoleKeyReplacement,
  publish: (added: KeyRecord, signer: Signer) => Promise<T>,
  served: () => Promise<unknown>,
): Promise<{ published: T; added: KeyRecord; revoked: KeyRecord[] }> {
  const { repository, role, online, passphrase, now, reason } = replacement;
  const old = await roleKeys(store, repository, role);
  // A key encrypted with a mistyped passphrase could never be opened again.
  for (const record of old) await store.signer(record.keyId, passphrase);
  const before = JSON.stringify(await served());
  const added = await store.generate({ repository, role, online, passphrase, now });
  let published: T;
  try {
    published = await publish(added, await store.signer(added.keyId, passphrase));
  } catch (err) {
    const after = await served().then(JSON.stringify, () => undefined);
    if (after === before) await store.discard(added.keyId);
    throw err;
  }
  // Only once the repository no longer names them: a failed rotation leaves the old keys usable.
  const revoked = [];
  for (const record of old) revoked.push(await store.revoke(record.keyId, reason, now));
  return { published, added, revoked };
}
