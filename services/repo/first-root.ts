import { rootSigned, signEnvelope, type Signer, type TufPublicKey } from '../../core/tuf/index.ts';

/** The public keys of a repository's top-level roles. */
export interface TopLevelKeys {
  root: readonly TufPublicKey[];
  rootThreshold: number;
  targets: readonly TufPublicKey[];
  snapshot: readonly TufPublicKey[];
  timestamp: readonly TufPublicKey[];
}

/**
 * Root version 1 of a repository with consistent snapshots (the Image
 * repository's and the Director's alike): the root keys at their threshold,
 * each other top-level role at a threshold of one.
 */
export function signFirstRoot(
  keys: TopLevelKeys,
  signers: readonly Signer[],
  expires: Date,
): Promise<Uint8Array> {
  return signEnvelope(
    rootSigned({
      version: 1,
      expires,
      consistentSnapshot: true,
      roles: {
        root: { keys: keys.root, threshold: keys.rootThreshold },
        targets: { keys: keys.targets, threshold: 1 },
        snapshot: { keys: keys.snapshot, threshold: 1 },
        timestamp: { keys: keys.timestamp, threshold: 1 },
      },
    }),
    signers,
  );
}
