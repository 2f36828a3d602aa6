import { isDeepStrictEqual } from 'node:util';
import type { NatsConnection } from '@nats-io/transport-node';
import { readEvents } from './event-reader.ts';
import {
  FLEET_KEY,
  PROJECTION_BUCKETS,
  ProjectionStore,
  type Entry,
  type ProjectionBuckets,
} from './kv-store.ts';
import { applyChange, project } from './reducers.ts';
import { emptyFleet, emptyProjections, type FleetView, type Projections } from './views.ts';

export interface RebuildResult {
  /** Events read from the log. */
  events: number;
  /** The stream sequence the projections are now folded up to. */
  lastSequence: number;
  rollouts: number;
  devices: number;
  /** Distinct committed revisions in the fleet. */
  revisions: number;
  /** Values written, and values deleted because the log does not produce them. */
  written: number;
  deleted: number;
}

/** Rounds of "read further" before values newer than the log are overwritten anyway. */
const MAX_ROUNDS = 5;

/**
 * Rebuilds the projections from the whole event log (sequence 1 on): folds
 * every event in memory with the same reducers as the projector, then makes
 * each bucket hold exactly that, writing changed values and deleting values
 * the log does not produce, by compare-and-set. A live projector may keep
 * running: a value it moved past what was read sends the rebuild back to the
 * log for the newer events first, so neither overwrites the other's newer state.
 */
export async function rebuildProjections(
  nc: NatsConnection,
  options: { buckets?: ProjectionBuckets } = {},
): Promise<RebuildResult> {
  const store = await ProjectionStore.open(nc, options.buckets ?? PROJECTION_BUCKETS);
  const state = emptyProjections();
  let position = 0;
  let events = 0;
  for (let round = 1; ; round++) {
    const before = position;
    for await (const stored of readEvents(nc, { fromSequence: position + 1 })) {
      applyChange(state, project(state, stored));
      position = stored.sequence;
      events += 1;
    }
    // No new events: a value past `position` comes from another log (purged, restored) and is replaced.
    const overwriteNewer = position === before || round >= MAX_ROUNDS;
    const outcome = await writeAll(store, state, position, overwriteNewer);
    if (outcome) {
      return {
        events,
        lastSequence: position,
        rollouts: Object.keys(state.rollouts).length,
        devices: Object.keys(state.devices).length,
        revisions: Object.keys(state.fleet.revisions).length,
        ...outcome,
      };
    }
  }
}

/** Makes the buckets hold `state`; undefined when a value is newer than `position` (read the log further). */
async function writeAll(
  store: ProjectionStore,
  state: Projections,
  position: number,
  overwriteNewer: boolean,
): Promise<{ written: number; deleted: number } | undefined> {
  const counts = { written: 0, deleted: 0 };
  // Same order as the projector: rollouts, fleet, devices last.
  const fleet: Record<string, FleetView> = isDeepStrictEqual(state.fleet, emptyFleet())
    ? {}
    : { [FLEET_KEY]: state.fleet };
  const plan = [
    ['rollouts', state.rollouts],
    ['fleet', fleet],
    ['devices', state.devices],
  ] as const;
  for (const [kind, wanted] of plan) {
    const stored = await store.entries(kind);
    for (const key of new Set([...stored.keys(), ...Object.keys(wanted)])) {
      const value = Object.hasOwn(wanted, key) ? wanted[key] : undefined;
      let current: Entry<{ lastSequence: number }> = stored.get(key) ?? (await store.get(kind, key));
      for (;;) {
        if (!overwriteNewer && (current.value?.lastSequence ?? 0) > position) return undefined;
        if (isDeepStrictEqual(current.value, value)) break;
        if (await store.write(kind, key, value, current.revision)) {
          counts[value === undefined ? 'deleted' : 'written'] += 1;
          break;
        }
        current = await store.get(kind, key);
      }
    }
  }
  return counts;
}
