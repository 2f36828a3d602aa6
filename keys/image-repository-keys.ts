import { UprollError } from '../core/index.ts';
import type { Signer } from '../core/tuf/index.ts';
import type { KeyRecord, KeyStore } from './keystore.ts';

/** The roles of the Image repository and whether their keys live online (used by services). */
export const IMAGE_ROLES = {
  root: { online: false },
  targets: { online: false },
  releases: { online: true },
  snapshot: { online: true },
  timestamp: { online: true },
} as const;
export type ImageRole = keyof typeof IMAGE_ROLES;

/** The usable (not revoked) keys of one role. */
export async function roleKeys(
  store: KeyStore,
  repository: KeyRecord['repository'],
  role: string,
): Promise<KeyRecord[]> {
  return (await store.list()).filter((r) => r.repository === repository && r.role === role && !r.revoked);
}

/** Signers for a role's usable keys, opened with one passphrase. */
export async function roleSigners(
  store: KeyStore,
  repository: KeyRecord['repository'],
  role: string,
  passphrase: string,
): Promise<Signer[]> {
  const records = await roleKeys(store, repository, role);
  if (records.length === 0)
    throw new UprollError('UNKNOWN_KEY', `no usable ${repository} ${role} key in ${store.dir}`);
  return Promise.all(records.map((record) => store.signer(record.keyId, passphrase)));
}
