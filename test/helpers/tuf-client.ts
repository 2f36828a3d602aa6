import {
  findTarget,
  NO_CACHE,
  refreshRepository,
  roleFetcher,
  TrustedRepository,
  type MetadataCache,
} from '../../core/tuf/index.ts';
import { NOW, type MockRepository } from './mock-repository.ts';

/** A cache in memory, as a device keeps its trusted metadata between refreshes. */
export function memoryCache(): MetadataCache & { files: Map<string, Uint8Array> } {
  const files = new Map<string, Uint8Array>();
  return {
    files,
    load: (role) => Promise.resolve(files.get(role)),
    save: (role, bytes) => {
      files.set(role, bytes);
      return Promise.resolve();
    },
  };
}

/** What the client trusts, in a form to compare before and after a rejected update. */
export function trustedState(client: TrustedRepository) {
  return {
    root: client.root.signed.version,
    rootKeys: Object.keys(client.root.signed.keys).sort(),
    timestamp: client.timestamp?.signed.version,
    snapshot: client.snapshot?.signed.version,
    targets: client.targets()?.signed.version,
  };
}

/** A client that trusts `anchor`, refreshed against `repo`. */
export async function refreshed(
  repo: MockRepository,
  anchor: Uint8Array,
  options: { cache?: MetadataCache; now?: Date; name?: string } = {},
): Promise<TrustedRepository> {
  const client = new TrustedRepository(anchor, { name: options.name ?? 'image' });
  await refreshRepository(client, repo.fetcher, options.cache ?? NO_CACHE, options.now ?? NOW);
  return client;
}

/** Finds `path` through `repo`'s delegations; delegated roles that verify are saved to `cache`. */
export function find(client: TrustedRepository, repo: MockRepository, path: string, cache = NO_CACHE) {
  return findTarget(client, path, roleFetcher(client, repo.fetcher), NOW, cache);
}

const UPDATES = [
  'updateRoot',
  'finishRootUpdates',
  'loadCachedTimestamp',
  'updateTimestamp',
  'loadCachedSnapshot',
  'updateSnapshot',
  'updateDelegatedTargets',
] as const;

/**
 * Makes every update step of `client` check that a step that throws leaves
 * the trusted state exactly as it was before that step. Returns the errors
 * seen, so a test can tell the check ran.
 */
export function guardTrustedState(client: TrustedRepository): { rejected: unknown[] } {
  const seen = { rejected: [] as unknown[] };
  for (const name of UPDATES) {
    const original = client[name].bind(client) as (...args: unknown[]) => unknown;
    Object.defineProperty(client, name, {
      value: (...args: unknown[]) => {
        const before = JSON.stringify(trustedState(client));
        try {
          return original(...args);
        } catch (err) {
          seen.rejected.push(err);
          const after = JSON.stringify(trustedState(client));
          if (after !== before) {
            const message = `${name} changed the trusted state before throwing: ${before} -> ${after}`;
            throw new Error(message, { cause: err });
          }
          throw err;
        }
      },
    });
  }
  return seen;
}
