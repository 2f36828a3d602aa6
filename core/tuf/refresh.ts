import { UprollError } from '../errors.ts';
import type { FetchRole } from './delegations.ts';
import { roleFileName } from './file-names.ts';
import type { MetadataCache } from './metadata-cache.ts';
import type { TrustedRepository } from './trusted-repository.ts';

/**
 * Fetches one metadata file of a repository by file name (e.g.
 * `3.root.json`), reading at most `maxBytes` + 1 bytes. Resolves undefined
 * when the file does not exist. The only I/O the TUF workflow needs.
 */
export type MetadataFetcher = (fileName: string, maxBytes: number) => Promise<Uint8Array | undefined>;

/**
 * TUF 5.5.1, 5.6.1: the file name of a role's metadata, versioned when the
 * repository uses consistent snapshots, the role name percent-encoded.
 */
export function metadataFileName(repository: TrustedRepository, role: string, version?: number): string {
  const consistent = repository.root.signed.consistentSnapshot && version !== undefined;
  return roleFileName(role, consistent ? version : undefined);
}

/**
 * The TUF client workflow (TUF 5.3-5.6) for one repository: walk the root
 * chain, then timestamp, snapshot and top-level targets. Cached copies serve
 * as rollback baselines and are used again when they are still current; every
 * newly trusted file is saved to the cache.
 */
export async function refreshRepository(
  repository: TrustedRepository,
  fetch: MetadataFetcher,
  cache: MetadataCache,
  now: Date,
): Promise<void> {
  const caps = repository.limits.byteCaps;
  // TUF 5.3: root N+1, N+2, ... until the next one does not exist.
  for (;;) {
    const version = repository.root.signed.version + 1;
    const bytes = await fetch(`${version}.root.json`, caps.root);
    if (bytes === undefined) break;
    repository.updateRoot(bytes);
    await cache.save('root', bytes);
  }
  repository.finishRootUpdates(now);

  // TUF 5.4: the timestamp is always fetched, never versioned.
  await useCached(cache, 'timestamp', (bytes) => repository.loadCachedTimestamp(bytes));
  const baseline = repository.timestamp;
  const timestampBytes = await required(
    fetch('timestamp.json', caps.timestamp),
    repository,
    'timestamp.json',
  );
  const timestamp = repository.updateTimestamp(timestampBytes, now);
  if (timestamp !== baseline) await cache.save('timestamp', timestampBytes);

  // TUF 5.5: the snapshot the timestamp names; the cached copy if it is that one.
  await useCached(cache, 'snapshot', (bytes) => repository.loadCachedSnapshot(bytes));
  const fetchRole = roleFetcher(repository, fetch);
  await updateFromCacheOrFetch(
    cache,
    'snapshot',
    (bytes) => repository.updateSnapshot(bytes, now),
    () => fetchRole('snapshot', timestamp.signed.snapshotMeta.version),
  );

  // TUF 5.6: top-level targets, the version the snapshot names.
  await updateFromCacheOrFetch(
    cache,
    'targets',
    (bytes) => repository.updateTargets(bytes, now),
    () => fetchRole('targets', repository.snapshot?.signed.meta['targets.json']?.version ?? 0),
  );
}

/**
 * Fetches a snapshot or targets role by the name the repository serves it
 * under, capped at the length its parent lists (or the role's cap).
 */
export function roleFetcher(repository: TrustedRepository, fetch: MetadataFetcher): FetchRole {
  return async (role, version) => {
    const caps = repository.limits.byteCaps;
    const length =
      role === 'snapshot'
        ? repository.timestamp?.signed.snapshotMeta.length
        : repository.snapshot?.signed.meta[`${role}.json`]?.length;
    const cap = length ?? (role === 'snapshot' ? caps.snapshot : caps.targets);
    return required(fetch(metadataFileName(repository, role, version), cap), repository, `${role}.json`);
  };
}

async function useCached(
  cache: MetadataCache,
  role: string,
  load: (bytes: Uint8Array) => void,
): Promise<void> {
  const bytes = await cache.load(role);
  if (!bytes) return;
  try {
    load(bytes);
  } catch {
    // A damaged or outdated cache is no baseline; the fresh copy decides.
  }
}

async function updateFromCacheOrFetch(
  cache: MetadataCache,
  role: string,
  update: (bytes: Uint8Array) => unknown,
  fetchFresh: () => Promise<Uint8Array>,
): Promise<void> {
  const cached = await cache.load(role);
  if (cached) {
    try {
      update(cached);
      return;
    } catch {
      // Not the current one: fetch it.
    }
  }
  const fresh = await fetchFresh();
  update(fresh);
  await cache.save(role, fresh);
}

async function required(
  bytes: Promise<Uint8Array | undefined>,
  repository: TrustedRepository,
  file: string,
): Promise<Uint8Array> {
  const value = await bytes;
  if (value === undefined) throw new UprollError('DOWNLOAD_FAILED', `${repository.name} serves no ${file}`);
  return value;
}
