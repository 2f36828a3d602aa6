import type { TargetFile } from '@tufjs/models';
import { UprollError } from '../errors.ts';
import { nfc } from './canonical.ts';
import { NO_CACHE, type MetadataCache } from './metadata-cache.ts';
import type { Metadata, Targets } from './metadata.ts';
import { checkTargetPath } from './target-path.ts';
import type { TrustedRepository } from './trusted-repository.ts';

type DelegatedRole = NonNullable<NonNullable<Targets['delegations']>['roles']>[string];

/** Fetches the metadata bytes of a delegated targets role (the snapshot names its version). */
export type FetchRole = (role: string, version: number) => Promise<Uint8Array>;

export interface FoundTarget {
  path: string;
  /** The role whose metadata lists the target. */
  role: string;
  target: TargetFile;
}

/**
 * TUF 5.6.7: finds a target by pre-order depth-first search of the
 * delegation tree, from top-level targets. Only delegations whose paths match
 * are followed; a terminating delegation ends the search of its siblings; a
 * role is visited once (cycles end); at most `maxDelegations` roles are loaded.
 * Each role is trusted only as reached from its delegator in this search.
 * Every role newly verified is saved to `cache` at once, so what verified
 * stays trusted when the search (or a later download) fails.
 */
export async function findTarget(
  repository: TrustedRepository,
  path: string,
  fetchRole: FetchRole,
  now: Date,
  cache: MetadataCache = NO_CACHE,
): Promise<FoundTarget> {
  const wanted = checkTargetPath(path);
  const pending: { role: string; delegator: string }[] = [{ role: 'targets', delegator: 'root' }];
  const visited = new Set<string>();
  while (pending.length > 0) {
    const { role, delegator } = pending.pop() as { role: string; delegator: string };
    if (visited.has(role)) continue;
    visited.add(role);
    if (visited.size > repository.limits.maxDelegations) {
      throw new UprollError(
        'LIMIT_EXCEEDED',
        `searching ${wanted} visited more than ${repository.limits.maxDelegations} roles`,
      );
    }
    const metadata =
      repository.reachedTargets(role, delegator) ??
      (await loadRole(repository, role, delegator, fetchRole, now, cache));
    const target = lookUp(metadata, wanted);
    if (target) return { path: wanted, role, target };

    const children: DelegatedRole[] = [];
    for (const child of Object.values(metadata.signed.delegations?.roles ?? {})) {
      if (!child.isDelegatedPath(wanted)) continue;
      children.push(child);
      if (child.terminating) {
        pending.length = 0; // nothing after a terminating delegation is searched
        break;
      }
    }
    pending.push(...children.reverse().map((child) => ({ role: child.name, delegator: role })));
  }
  throw new UprollError('TARGET_NOT_FOUND', `${repository.name} has no trusted target ${wanted}`);
}

async function loadRole(
  repository: TrustedRepository,
  role: string,
  delegator: string,
  fetchRole: FetchRole,
  now: Date,
  cache: MetadataCache,
): Promise<Metadata<Targets>> {
  const version = repository.snapshot?.signed.meta[`${role}.json`]?.version;
  if (version === undefined)
    throw new UprollError('MIX_AND_MATCH', `${repository.name} snapshot does not list ${role}.json`);
  const bytes = await fetchRole(role, version);
  const metadata = repository.updateDelegatedTargets(role, delegator, bytes, now);
  await cache.save(role, bytes);
  return metadata;
}

function lookUp(metadata: Metadata<Targets>, path: string): TargetFile | undefined {
  const direct = metadata.signed.targets[path];
  if (direct) return direct;
  return Object.entries(metadata.signed.targets).find(([name]) => nfc(name) === path)?.[1];
}
