import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Signer } from '../../core/tuf/index.ts';
import { KeyStore } from '../../keys/index.ts';
import { ImageRepository, type ImageRepositoryKeys } from '../../services/image-repo/index.ts';
import { newSigner } from './keys.ts';
import { FIXTURE_NOW } from './fixture-time.ts';

export const REPO_NOW = FIXTURE_NOW;

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

export const TEST_PASSPHRASES = { offline: 'offline passphrase', online: 'online passphrase' } as const;

/** An initialized Image repository whose keys (one per role) live in a real, temporary key store. */
export async function newKeyStoreImageRepository(now: Date = REPO_NOW) {
  const store = new KeyStore(await mkdtemp(join(tmpdir(), 'uproll-image-keys-')), { clock: () => now });
  const generate = (role: string, online: boolean) =>
    store.generate({
      repository: 'image',
      role,
      online,
      passphrase: online ? TEST_PASSPHRASES.online : TEST_PASSPHRASES.offline,
      now,
    });
  const records = {
    root: await generate('root', false),
    targets: await generate('targets', false),
    releases: await generate('releases', true),
    snapshot: await generate('snapshot', true),
    timestamp: await generate('timestamp', true),
  };
  const signer = (role: keyof typeof records) =>
    store.signer(
      records[role].keyId,
      records[role].online ? TEST_PASSPHRASES.online : TEST_PASSPHRASES.offline,
    );
  const repository = new ImageRepository(await mkdtemp(join(tmpdir(), 'uproll-image-repo-')));
  await repository.initialize(
    {
      root: [records.root.publicKey],
      rootThreshold: 1,
      targets: [records.targets.publicKey],
      releases: [records.releases.publicKey],
      snapshot: [records.snapshot.publicKey],
      timestamp: [records.timestamp.publicKey],
    },
    {
      root: [await signer('root')],
      targets: [await signer('targets')],
      releases: [await signer('releases')],
      snapshot: [await signer('snapshot')],
      timestamp: [await signer('timestamp')],
    },
    now,
  );
  return { store, repository, records };
}
