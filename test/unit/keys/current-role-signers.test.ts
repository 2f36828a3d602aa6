import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { CurrentRoleSigners, KeyStore } from '../../../keys/index.ts';
import { FIXTURE_NOW } from '../../helpers/fixture-time.ts';

const PASSPHRASE = 'online passphrase';
let store: KeyStore;
let keys: CurrentRoleSigners;
const timestampKey = () =>
  store.generate({
    repository: 'director',
    role: 'timestamp',
    online: true,
    passphrase: PASSPHRASE,
    now: FIXTURE_NOW,
  });
const signingKeys = async () => (await keys.of('director', 'timestamp')).map((s) => s.keyId);

beforeEach(async () => {
  store = new KeyStore(await mkdtemp(join(tmpdir(), 'uproll-current-signers-')), {
    clock: () => FIXTURE_NOW,
  });
  keys = new CurrentRoleSigners(store, PASSPHRASE);
});

describe('the signers of a role for a long-running service', () => {
  it('when the role is rotated meanwhile, sign with the new key and not the old one', async () => {
    const old = await timestampKey();
    expect(await signingKeys()).toEqual([old.keyId]);
    const fresh = await timestampKey();
    await store.revoke(old.keyId, 'rotated', FIXTURE_NOW);
    expect(await signingKeys()).toEqual([fresh.keyId]);
  });

  it('when the role has no usable key left, refuse to sign: UNKNOWN_KEY', async () => {
    const old = await timestampKey();
    await signingKeys();
    await store.revoke(old.keyId, 'leaked', FIXTURE_NOW);
    await expect(keys.of('director', 'timestamp')).rejects.toThrowWithCode('UNKNOWN_KEY');
  });
});
