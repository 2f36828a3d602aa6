import { KvWatchInclude } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  openProjectionBucket,
  PROJECTION_BUCKETS,
  type ProjectionBuckets,
  type ProjectionKind,
} from './kv-store.ts';

/** One projection value as it changed: a rollout's, a device's, or the fleet's. */
export interface LiveChange {
  kind: ProjectionKind;
  key: string;
  value: unknown;
}

/**
 * Follows the projection buckets the projector writes, telling each new
 * value as it is stored (not the values already there: a reader fetches
 * those first). Values that do not parse are left out. `stop` ends it.
 */
export async function watchProjections(
  nc: NatsConnection,
  kinds: readonly ProjectionKind[],
  onChange: (change: LiveChange) => void,
  names: ProjectionBuckets = PROJECTION_BUCKETS,
): Promise<{ stop(): void; done: Promise<void> }> {
  const watches = await Promise.all(
    kinds.map(async (kind) => {
      // A bucket the projector has not written yet is made now, so the watch sees its first value.
      const kv = await openProjectionBucket(nc, names, kind);
      return { kind, watch: await kv.watch({ include: KvWatchInclude.UpdatesOnly, ignoreDeletes: true }) };
    }),
  );
  const done = Promise.all(
    watches.map(async ({ kind, watch }) => {
      for await (const entry of watch) {
        if (entry.operation !== 'PUT') continue;
        let value: unknown;
        try {
          value = entry.json();
        } catch {
          continue; // not JSON: not a value of ours
        }
        onChange({ kind, key: entry.key, value });
      }
    }),
  ).then(() => undefined);
  return {
    stop: () => {
      for (const { watch } of watches) watch.stop();
    },
    done,
  };
}
