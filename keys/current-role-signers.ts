import type { Signer } from '../core/tuf/index.ts';
import { roleKeys, roleSigners } from './image-repository-keys.ts';
import type { KeyRecord, KeyStore } from './keystore.ts';

/**
 * The signers of roles as the key store has them now, for a service that
 * runs for days: a role's keys are opened once and opened again whenever
 * its usable keys change, so a rotation or revocation made while the service
 * runs takes effect at its next signature, without a restart.
 */
export class CurrentRoleSigners {
  readonly store: KeyStore;
  readonly #passphrase: string;
  readonly #opened = new Map<string, { keyIds: string; signers: Signer[] }>();

  constructor(store: KeyStore, passphrase: string) {
    this.store = store;
    this.#passphrase = passphrase;
  }

  /** The signers of the role's usable keys (UNKNOWN_KEY when it has none). */
  async of(repository: KeyRecord['repository'], role: string): Promise<Signer[]> {
    const name = `${repository}/${role}`;
    const keyIds = (await roleKeys(this.store, repository, role)).map((r) => r.keyId).join(' ');
    const opened = this.#opened.get(name);
    if (opened?.keyIds === keyIds) return opened.signers;
    const signers = await roleSigners(this.store, repository, role, this.#passphrase);
    this.#opened.set(name, { keyIds, signers });
    return signers;
  }
}
