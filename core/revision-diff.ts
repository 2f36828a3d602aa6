import { missingObjects, revisionObjects, type StateRevision } from './state-revision.ts';

/** What changes in one kind of part of a revision (artifacts by path, apps by name). */
export interface PartChanges {
  added: string[];
  removed: string[];
  changed: string[];
  unchanged: number;
}

/**
 * What a device on `from` meets when it installs `to`: which artifacts and
 * apps change, whether the OS changes (the OSTree commit or the rootfs
 * image), and what it downloads: the objects of `to` that `from` does not
 * hold (each once), the same object-level delta the agent fetches.
 */
export interface RevisionDiff {
  from: string;
  to: string;
  artifacts: PartChanges;
  apps: PartChanges;
  os: { changes: boolean; from?: string; to?: string };
  download: { objects: number; bytes: number; ofBytes: number };
}

export function revisionDiff(from: StateRevision, to: StateRevision): RevisionDiff {
  const held = new Set(revisionObjects(from).map((object) => object.sha256));
  const fetched = missingObjects(to, held);
  const whole = missingObjects(to, new Set());
  return {
    from: from.name,
    to: to.name,
    artifacts: changesBetween(
      keyed(from.artifacts, (a) => a.path),
      keyed(to.artifacts, (a) => a.path),
    ),
    apps: changesBetween(
      keyed(from.apps ?? [], (app) => app.name),
      keyed(to.apps ?? [], (app) => app.name),
    ),
    os: osChange(from, to),
    download: {
      objects: fetched.length,
      bytes: sum(fetched.map((object) => object.length)),
      ofBytes: sum(whole.map((object) => object.length)),
    },
  };
}

/** The OS a revision installs, as one name: its OSTree commit, else its rootfs image's digest. */
function osOf(revision: StateRevision): string | undefined {
  if (revision.ostree) return `ostree:${revision.ostree.commit}`;
  const image = revision.artifacts.find((artifact) => artifact.image === 'rootfs');
  return image ? `rootfs:${image.sha256}` : undefined;
}

function osChange(from: StateRevision, to: StateRevision): RevisionDiff['os'] {
  const [before, after] = [osOf(from), osOf(to)];
  return {
    changes: before !== after,
    ...(before ? { from: before } : {}),
    ...(after ? { to: after } : {}),
  };
}

function keyed<T>(items: readonly T[], key: (item: T) => string): Map<string, string> {
  return new Map(items.map((item) => [key(item), JSON.stringify(item)]));
}

function changesBetween(before: Map<string, string>, after: Map<string, string>): PartChanges {
  const changes: PartChanges = { added: [], removed: [], changed: [], unchanged: 0 };
  for (const [name, value] of after) {
    const old = before.get(name);
    if (old === undefined) changes.added.push(name);
    else if (old !== value) changes.changed.push(name);
    else changes.unchanged++;
  }
  for (const name of before.keys()) if (!after.has(name)) changes.removed.push(name);
  for (const list of [changes.added, changes.removed, changes.changed]) list.sort();
  return changes;
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}
