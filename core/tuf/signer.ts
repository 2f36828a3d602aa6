import { sign, constants, type KeyObject } from 'node:crypto';
import { keyIdOf, tufPublicKey, type TufPublicKey } from './keys.ts';

/**
 * Something that signs bytes with one key. The default holds the key in
 * memory; the key store (keys/) provides signers over encrypted keys.
 */
export interface Signer {
  readonly keyId: string;
  readonly publicKey: TufPublicKey;
  sign(data: Uint8Array): Promise<Uint8Array> | Uint8Array;
}

/** A signer over a private key held in memory, with the scheme its type implies. */
export function inMemorySigner(privateKey: KeyObject): Signer {
  const publicKey = tufPublicKey(privateKey);
  const keyId = keyIdOf(publicKey);
  const type = privateKey.asymmetricKeyType;
  return {
    keyId,
    publicKey,
    sign(data) {
      if (type === 'ed25519') return sign(null, data, privateKey);
      if (type === 'rsa') {
        // PSS with a salt as long as the digest, as securesystemslib signs.
        return sign('sha256', data, {
          key: privateKey,
          padding: constants.RSA_PKCS1_PSS_PADDING,
          saltLength: 32,
        });
      }
      return sign('sha256', data, privateKey);
    },
  };
}
