import { createUser, fromPublic, fromSeed } from '@nats-io/nkeys';

/** An nkey user identity for NATS. The seed is secret: never log it. */
export interface NkeyIdentity {
  /** `U…` public key, listed in the server's configuration. */
  publicKey: string;
  /** `SU…` seed the client authenticates with. */
  seed: string;
}

/** Creates a fresh nkey user identity (ed25519). */
export function createNkeyIdentity(): NkeyIdentity {
  const pair = createUser();
  return { publicKey: pair.getPublicKey(), seed: new TextDecoder().decode(pair.getSeed()) };
}

/** The public key of a seed, e.g. to check a stored identity is whole. */
export function publicKeyOfSeed(seed: string): string {
  return fromSeed(new TextEncoder().encode(seed)).getPublicKey();
}

/** True when `value` is a well-formed nkey user public key. */
export function isUserPublicKey(value: string): boolean {
  try {
    return value.startsWith('U') && fromPublic(value).getPublicKey() === value;
  } catch {
    return false;
  }
}
