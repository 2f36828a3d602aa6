import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Signer } from '../../core/tuf/index.ts';
import { ImageRepository, type ImageRepositoryKeys } from '../../services/image-repo/index.ts';
import { newSigner } from './keys.ts';

export const REPO_NOW = new Date('2026-11-21T12:00:00Z');

/** An initialized Image repository in a temporary directory, with in-memory keys for every role. */
export async function newImageRepository(now: Date = REPO_NOW) {
  const signers = {
    root: [newSigner(), newSigner(), newSigner()],
    targets: [newSigner()],
    releases: [newSigner()],
    snapshot: [newSigner()],
    timestamp: [newSigner()],
  } satisfies Record<string, Signer[]>;
  const keys: ImageRepositoryKeys = {
    root: signers.root.map((s) => s.publicKey),
    rootThreshold: 2,
    targets: signers.targets.map((s) => s.publicKey),
    releases: signers.releases.map((s) => s.publicKey),
    snapshot: signers.snapshot.map((s) => s.publicKey),
    timestamp: signers.timestamp.map((s) => s.publicKey),
  };
  const repository = new ImageRepository(await mkdtemp(join(tmpdir(), 'uproll-image-repo-')));
  await repository.initialize(keys, signers, now);
  return { repository, signers, keys };
}
