import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { keyIdOf, tufPublicKey, verifyTufSignature } from '../../../../core/tuf/index.ts';
import { newSigner } from '../../../helpers/keys.ts';

const data = new TextEncoder().encode('signed bytes');

describe('TUF keys', () => {
  it.each(['ed25519', 'ecdsa', 'rsa'] as const)(
    '%s: a signature verifies only over the signed bytes',
    async (type) => {
      const signer = newSigner(type);
      const sig = Buffer.from(await signer.sign(data)).toString('hex');
      expect(verifyTufSignature(signer.publicKey, data, sig)).toBe(true);
      expect(verifyTufSignature(signer.publicKey, new TextEncoder().encode('other'), sig)).toBe(false);
    },
  );

  it('names a key by the sha256 of its canonical JSON, whatever the field order', () => {
    const { publicKey } = newSigner();
    const reordered = {
      keyval: { public: publicKey.keyval.public },
      scheme: publicKey.scheme,
      keytype: publicKey.keytype,
    };
    expect(keyIdOf(reordered)).toBe(keyIdOf(publicKey));
    expect(keyIdOf(publicKey)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('treats malformed signatures and keys as not valid rather than throwing', () => {
    const { publicKey } = newSigner();
    expect(verifyTufSignature(publicKey, data, 'not hex')).toBe(false);
    expect(verifyTufSignature({ ...publicKey, keyval: { public: 'zz' } }, data, 'aa')).toBe(false);
    expect(
      verifyTufSignature(
        { keytype: 'rsa', scheme: 'rsassa-pss-sha256', keyval: { public: 'junk' } },
        data,
        'aa',
      ),
    ).toBe(false);
    expect(verifyTufSignature({ keytype: 'dsa', scheme: 'dsa', keyval: { public: 'x' } }, data, 'aa')).toBe(
      false,
    );
  });

  it('refuses key types TUF metadata here does not use', () => {
    const { publicKey } = generateKeyPairSync('x25519');
    expect(() => tufPublicKey(publicKey)).toThrowWithCode('BAD_METADATA');
  });
});
