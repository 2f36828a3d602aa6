import { describe, expect, it } from 'vitest';
import { Key } from '@tufjs/models';
import { parseMetadata, verifyThreshold } from '../../../../core/tuf/index.ts';
import { newSigner } from '../../../helpers/keys.ts';
import { MockRepository } from '../../../helpers/mock-repository.ts';

const signed = {
  _type: 'timestamp',
  spec_version: '1.0.31',
  version: 1,
  expires: '2099-01-01T00:00:00Z',
  meta: { 'snapshot.json': { version: 1 } },
};

async function metadataSignedBy(...signers: ReturnType<typeof newSigner>[]) {
  return parseMetadata('timestamp', await MockRepository.sign(signed, signers), 16 * 1024);
}

function keysOf(...signers: ReturnType<typeof newSigner>[]) {
  return Object.fromEntries(signers.map((s) => [s.keyId, Key.fromJSON(s.keyId, { ...s.publicKey })]));
}

describe('verifyThreshold', () => {
  const a = newSigner();
  const b = newSigner();

  it('is met by enough distinct trusted keys', async () => {
    const metadata = await metadataSignedBy(a, b);
    expect(() =>
      verifyThreshold('timestamp', { keyIDs: [a.keyId, b.keyId], threshold: 2 }, keysOf(a, b), metadata),
    ).not.toThrow();
  });

  it('counts a keyid listed twice once', async () => {
    const metadata = await metadataSignedBy(a);
    expect(() =>
      verifyThreshold('timestamp', { keyIDs: [a.keyId, a.keyId], threshold: 2 }, keysOf(a), metadata),
    ).toThrowWithCode('THRESHOLD_NOT_MET');
  });

  it('never counts a key the delegator does not list', async () => {
    const metadata = await metadataSignedBy(a, b);
    expect(() =>
      verifyThreshold('timestamp', { keyIDs: [a.keyId, b.keyId], threshold: 2 }, keysOf(a), metadata),
    ).toThrowWithCode('THRESHOLD_NOT_MET');
  });

  it('is never met by a threshold of 0', async () => {
    const metadata = await metadataSignedBy(a);
    expect(() =>
      verifyThreshold('timestamp', { keyIDs: [a.keyId], threshold: 0 }, keysOf(a), metadata),
    ).toThrowWithCode('THRESHOLD_NOT_MET');
  });
});
