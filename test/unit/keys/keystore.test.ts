import { readFile, stat } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { verifyTufSignature } from '../../../core/tuf/index.ts';
import { KeyStore } from '../../../keys/index.ts';
import { FIXTURE_NOW } from '../../helpers/fixture-time.ts';

const NOW = FIXTURE_NOW;
const PASSPHRASE = 'correct horse battery';
let store: KeyStore;

beforeEach(async () => {
  store = new KeyStore(await mkdtemp(join(tmpdir(), 'uproll-keys-')), { clock: () => NOW });
});

const generate = (online: boolean, type: 'ed25519' | 'ecdsa' | 'rsa' = 'ed25519') =>
  store.generate({
    repository: 'image',
    role: online ? 'timestamp' : 'root',
    online,
    type,
    passphrase: PASSPHRASE,
    now: NOW,
  });

describe('key store', () => {
  it.each(['ed25519', 'ecdsa', 'rsa'] as const)(
    'generates %s keys that sign what their TUF public key verifies',
    async (type) => {
      const record = await generate(false, type);
      const signer = await store.signer(record.keyId, PASSPHRASE);
      const data = new TextEncoder().encode('root v1');
      expect(
        verifyTufSignature(record.publicKey, data, Buffer.from(await signer.sign(data)).toString('hex')),
      ).toBe(true);
    },
  );

  it('keeps private keys encrypted, readable by the owner only, offline keys apart from online ones', async () => {
    const offline = await generate(false);
    const online = await generate(true);
    const keyFile = join(store.dir, 'offline', `${offline.keyId}.key`);
    expect(await readFile(keyFile, 'utf8')).toContain(['BEGIN', 'ENCRYPTED', 'PRIVATE', 'KEY'].join(' '));
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    expect((await stat(join(store.dir, 'online', `${online.keyId}.key`))).isFile()).toBe(true);
  });

  it('lists every key with its role, type, dates and state', async () => {
    const record = await generate(false);
    expect(await store.list()).toEqual([
      expect.objectContaining({
        keyId: record.keyId,
        role: 'root',
        type: 'ed25519',
        online: false,
        created: NOW.toISOString(),
      }),
    ]);
  });

  it('refuses a wrong passphrase with a code and without key material in the message', async () => {
    const record = await generate(false);
    const failure = (await store
      .signer(record.keyId, 'not the passphrase')
      .catch((e: unknown) => e)) as Error;
    expect(failure).toMatchObject({ code: 'WRONG_PASSPHRASE' });
    expect(failure.message).not.toContain('PRIVATE KEY');
  });

  it('never lets an online service load an offline key', async () => {
    const offline = await generate(false);
    const online = await generate(true);
    const service = new KeyStore(store.dir, { clock: () => NOW, onlineOnly: true });
    await expect(service.signer(offline.keyId, PASSPHRASE)).rejects.toThrowWithCode('OFFLINE_KEY');
    await expect(service.signer(online.keyId, PASSPHRASE)).resolves.toBeDefined();
    expect((await service.list()).map((r) => r.keyId)).toEqual([online.keyId]);
  });

  it('refuses to sign with a revoked key', async () => {
    const record = await generate(true);
    await store.revoke(record.keyId, 'laptop stolen', NOW);
    await expect(store.signer(record.keyId, PASSPHRASE)).rejects.toThrowWithCode('KEY_REVOKED');
    expect((await store.get(record.keyId)).revoked).toEqual({
      at: NOW.toISOString(),
      reason: 'laptop stolen',
    });
  });

  it('exports public keys as JWK', async () => {
    const record = await generate(false);
    expect(await store.exportJwk(record.keyId)).toMatchObject({
      kty: 'OKP',
      crv: 'Ed25519',
      kid: record.keyId,
    });
  });

  it('answers UNKNOWN_KEY for a key id it does not hold, and refuses short passphrases', async () => {
    await expect(store.get('ab'.repeat(32))).rejects.toThrowWithCode('UNKNOWN_KEY');
    await expect(
      store.generate({ repository: 'image', role: 'root', online: false, passphrase: 'short', now: NOW }),
    ).rejects.toThrowWithCode('INVALID_INPUT');
  });

  it('records every signature in the audit trail: key, role and the digest of what was signed', async () => {
    const record = await generate(true);
    const signer = await store.signer(record.keyId, PASSPHRASE);
    await signer.sign(new TextEncoder().encode('timestamp v2'));
    await signer.sign(new TextEncoder().encode('timestamp v3'));
    const trail = await store.auditTrail();
    expect(trail).toHaveLength(2);
    expect(trail[0]).toMatchObject({ keyId: record.keyId, repository: 'image', role: 'timestamp' });
    expect(trail[0]?.sha256).toMatch(/^[0-9a-f]{64}$/);
  });
});
