import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { KeyStore, replaceRoleKey, type RoleKeyReplacement } from '../../../keys/index.ts';
import { FIXTURE_NOW } from '../../helpers/fixture-time.ts';

const PASSPHRASE = 'online passphrase';
let store: KeyStore;
let replacement: RoleKeyReplacement;
beforeEach(async () => {
  store = new KeyStore(await mkdtemp(join(tmpdir(), 'uproll-role-rotation-')), { clock: () => FIXTURE_NOW });
  await store.generate({
    repository: 'director',
    role: 'timestamp',
    online: true,
    passphrase: PASSPHRASE,
    now: FIXTURE_NOW,
  });
  replacement = {
    repository: 'director',
    role: 'timestamp',
    online: true,
    passphrase: PASSPHRASE,
    now: FIXTURE_NOW,
    reason: 'rotated',
  };
});

const usable = async () => (await store.list()).filter((r) => !r.revoked).map((r) => r.keyId);

describe('replacing the key of a role', () => {
  it('when it is published, the old key is revoked and the new one is the only usable key', async () => {
    const [old] = await usable();
    const { added, revoked } = await replaceRoleKey(
      store,
      replacement,
      () => Promise.resolve(),
      () => Promise.resolve(1),
    );
    expect(revoked.map((r) => r.keyId)).toEqual([old]);
    expect(await usable()).toEqual([added.keyId]);
  });

  it('when the passphrase does not open the current key: WRONG_PASSPHRASE before any key is made', async () => {
    const before = await store.list();
    let published = false;
    const replaced = replaceRoleKey(
      store,
      { ...replacement, passphrase: 'mistyped passphrase' },
      () => {
        published = true;
        return Promise.resolve();
      },
      () => Promise.resolve(1),
    );
    await expect(replaced).rejects.toThrowWithCode('WRONG_PASSPHRASE');
    expect(published).toBe(false);
    expect(await store.list()).toEqual(before);
  });

  it('when publishing fails with the repository unchanged, the new key is gone and the old one still usable', async () => {
    const before = await store.list();
    const replaced = replaceRoleKey(
      store,
      replacement,
      () => Promise.reject(new Error('disk full')),
      () => Promise.resolve(1),
    );
    await expect(replaced).rejects.toThrow('disk full');
    expect(await store.list()).toEqual(before);
  });

  it('when publishing fails after the repository changed, the new key is kept (the repository may name it)', async () => {
    let version = 1;
    const replaced = replaceRoleKey(
      store,
      replacement,
      () => {
        version = 2;
        return Promise.reject(new Error('disk full'));
      },
      () => Promise.resolve(version),
    );
    await expect(replaced).rejects.toThrow('disk full');
    expect(await usable()).toHaveLength(2);
  });
});
