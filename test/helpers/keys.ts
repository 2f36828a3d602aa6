import { generateKeyPairSync } from 'node:crypto';
import { inMemorySigner, type KeyType, type Signer } from '../../core/tuf/index.ts';

/** A fresh signing key of the given type; test keys exist only in memory. */
export function newSigner(type: KeyType = 'ed25519'): Signer {
  switch (type) {
    case 'ed25519':
      return inMemorySigner(generateKeyPairSync('ed25519').privateKey);
    case 'ecdsa':
      return inMemorySigner(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
    case 'rsa':
      return inMemorySigner(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey);
  }
}
