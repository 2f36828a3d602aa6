import { createHash, createPublicKey, verify, constants, type KeyObject } from 'node:crypto';
import { UprollError } from '../errors.ts';
import { canonicalBytes } from './canonical.ts';

/** The key types Uproll signs and verifies with, by TUF key type and scheme. */
export const KEY_SCHEMES = {
  ed25519: 'ed25519',
  ecdsa: 'ecdsa-sha2-nistp256',
  rsa: 'rsassa-pss-sha256',
} as const;
export type KeyType = keyof typeof KEY_SCHEMES;

/** A public key as TUF metadata lists it. */
export interface TufPublicKey {
  keytype: string;
  scheme: string;
  keyval: { public: string };
}

// DER SubjectPublicKeyInfo prefix of a raw 32-byte ed25519 key (RFC 8410).
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** TUF key id: the sha256 of the key object's canonical JSON. */
export function keyIdOf(key: TufPublicKey): string {
  const { keytype, scheme, keyval } = key;
  return createHash('sha256')
    .update(canonicalBytes({ keytype, scheme, keyval: { public: keyval.public } }))
    .digest('hex');
}

/**
 * The TUF form of a public key: ed25519 as 64 hex digits (the spec's form),
 * ecdsa P-256 and RSA as PEM SubjectPublicKeyInfo (securesystemslib's form).
 */
export function tufPublicKey(keyObject: KeyObject): TufPublicKey {
  const key = keyObject.type === 'private' ? createPublicKey(keyObject) : keyObject;
  const type = key.asymmetricKeyType;
  if (type === 'ed25519') {
    const der = key.export({ type: 'spki', format: 'der' });
    return {
      keytype: 'ed25519',
      scheme: KEY_SCHEMES.ed25519,
      keyval: { public: der.subarray(-32).toString('hex') },
    };
  }
  const pem = key.export({ type: 'spki', format: 'pem' }).toString();
  if (type === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') {
    return { keytype: 'ecdsa', scheme: KEY_SCHEMES.ecdsa, keyval: { public: pem } };
  }
  if (type === 'rsa' || type === 'rsa-pss') {
    return { keytype: 'rsa', scheme: KEY_SCHEMES.rsa, keyval: { public: pem } };
  }
  throw new UprollError('BAD_METADATA', `keys of type ${type} are not supported (ed25519, ecdsa P-256, rsa)`);
}

interface Verifier {
  (data: Uint8Array, signature: Buffer): boolean;
}

// Parsing a key is dearer than checking a signature; metadata names the same keys again and again.
const verifiers = new Map<string, Verifier>();
const MAX_CACHED_KEYS = 4096;

/**
 * Checks a signature (hex) over `data` with a TUF public key. Unknown key
 * types, malformed keys and malformed signatures are simply not valid.
 */
export function verifyTufSignature(key: TufPublicKey, data: Uint8Array, signatureHex: string): boolean {
  if (!/^(?:[0-9a-f]{2})+$/i.test(signatureHex)) return false;
  const verifier = verifierFor(key);
  return verifier ? verifier(data, Buffer.from(signatureHex, 'hex')) : false;
}

function verifierFor(key: TufPublicKey): Verifier | undefined {
  const cacheKey = `${key.keytype}\n${key.scheme}\n${key.keyval.public}`;
  let verifier = verifiers.get(cacheKey);
  if (verifier) return verifier;
  verifier = buildVerifier(key);
  if (!verifier) return undefined;
  if (verifiers.size >= MAX_CACHED_KEYS) verifiers.clear();
  verifiers.set(cacheKey, verifier);
  return verifier;
}

/**
 * The node:crypto key of a TUF public key of a supported type and scheme;
 * BAD_METADATA for anything else (unknown scheme, malformed key, wrong curve).
 */
export function publicKeyObject({ keytype, scheme, keyval }: TufPublicKey): KeyObject {
  try {
    if (keytype === 'ed25519' && scheme === KEY_SCHEMES.ed25519 && /^[0-9a-f]{64}$/i.test(keyval.public)) {
      return createPublicKey({
        key: Buffer.concat([ED25519_SPKI_PREFIX, Buffer.from(keyval.public, 'hex')]),
        format: 'der',
        type: 'spki',
      });
    }
    if ((keytype === 'ecdsa' || keytype === KEY_SCHEMES.ecdsa) && scheme === KEY_SCHEMES.ecdsa) {
      const key = createPublicKey(keyval.public);
      if (key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return key;
    }
    if (keytype === 'rsa' && scheme === KEY_SCHEMES.rsa) {
      const key = createPublicKey(keyval.public);
      if (key.asymmetricKeyType === 'rsa') return key;
    }
  } catch (cause) {
    throw new UprollError('BAD_METADATA', `a ${keytype} key could not be read`, { cause });
  }
  throw new UprollError('BAD_METADATA', `keys of type ${keytype} with scheme ${scheme} are not supported`);
}

function buildVerifier(tufKey: TufPublicKey): Verifier | undefined {
  let key: KeyObject;
  try {
    key = publicKeyObject(tufKey);
  } catch {
    return undefined;
  }
  if (tufKey.keytype === 'ed25519') return (data, signature) => verify(null, data, key, signature);
  if (tufKey.keytype === 'rsa') {
    const options = {
      key,
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: constants.RSA_PSS_SALTLEN_AUTO,
    };
    return (data, signature) => verify('sha256', data, options, signature);
  }
  return (data, signature) => verify('sha256', data, key, signature);
}
