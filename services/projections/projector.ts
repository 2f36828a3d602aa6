import { setTimeout as sleep } from 'node:timers/promises';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { nanos } from '@nats-io/transport-node';
import { EVENTS_STREAM, type StoredEvent } from '../nats/index.ts';
import { lastEventSequence, storedEventOf } from './event-reader.ts';
import {
  FLEET_KEY,
  PROJECTION_BUCKETS,
  ProjectionStore,
  type Entry,
  type ProjectionBuckets,
} from './kv-store.ts';
import { project, touchedKeys } from './reducers.ts';
import { emptyFleet, type DeviceView, type FleetView, type RolloutView } from './views.ts';

export interface ProjectorOptions {
  /** Durable consumer name; replicas that share it share the work (one event at a time). */
  durableName?: string;
  buckets?: ProjectionBuckets;
  /** Told about an event that could not be applied (it is retried) or is not an event (skipped). */
  onError?: (err: unknown, sequence: number) => void;
  /** Delay before an event that failed to apply is delivered again. */
  retryDelayMs?: number;
}

export interface Projector {
  /** Stops taking events and waits for the one in hand. */
  stop(): Promise<void>;
  /** Resolves once every event in the log at the time of the call is applied; rejects once it made no progress for `stalledMs`. */
  caughtUp(stalledMs?: number): Promise<void>;
}

export const DEFAULT_PROJECTOR = 'uproll-projections';

/** Projection values the projector keeps in memory (devices updating at once, their rollouts, the fleet). */
const PROJECTOR_CACHE_SIZE = 10_000;

/** Compare-and-set conflicts in a row before an event is handed back for redelivery. */
const MAX_CONFLICTS = 20;

/**
 * Keeps the projection buckets up to date from the event log: a durable pull
 * consumer from sequence 1 (a new projector catches up on the whole log), one
 * event in flight at a time so events apply in log order, each applied at
 * most once per value (values carry the last sequence applied) and acked after.
 */
export async function startProjector(nc: NatsConnection, options: ProjectorOptions = {}): Promise<Projector> {
  const durableName = options.durableName ?? DEFAULT_PROJECTOR;
  // The projector is the buckets' one writer (a rebuild aside): it remembers what it wrote.
  const store = await ProjectionStore.open(nc, options.buckets ?? PROJECTION_BUCKETS, {
    cacheSize: PROJECTOR_CACHE_SIZE,
  });
  const jsm = await jetstreamManager(nc);
  // Not consumeDurably(): that one starts at new messages and lets 1000 run at once;
  // a projection needs the whole log, in order.
  await jsm.consumers.add(EVENTS_STREAM, {
    durable_name: durableName,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    max_ack_pending: 1,
    ack_wait: nanos(30_000),
  });
  const messages = await (await jetstream(nc).consumers.get(EVENTS_STREAM, durableName)).consume();

  const handle = async (msg: JsMsg) => {
    const stored = storedEventOf(msg);
    if (!stored) {
      options.onError?.(new Error(`stream sequence ${msg.seq} is not an event`), msg.seq);
      msg.term();
      return;
    }
    try {
      await applyToStore(store, stored);
      msg.ack();
    } catch (err) {
      options.onError?.(err, msg.seq);
      msg.nak(options.retryDelayMs ?? 1000);
    }
  };
  const loop = (async () => {
    for await (const msg of messages) await handle(msg);
  })();

  return {
    async stop() {
      await messages.close();
      await loop;
    },
    async caughtUp(stalledMs = 30_000) {
      const target = await lastEventSequence(nc);
      let floor = -1;
      let deadline = 0;
      for (;;) {
        const info = await jsm.consumers.info(EVENTS_STREAM, durableName);
        if (info.ack_floor.stream_seq >= target) return;
        // A projector that moves is waited for however long the log is; one that stands still is not.
        if (info.ack_floor.stream_seq !== floor) {
          floor = info.ack_floor.stream_seq;
          deadline = performance.now() + stalledMs;
        } else if (performance.now() > deadline) {
          throw new Error(`projector ${durableName} stalled at ${floor} of ${target} for ${stalledMs} ms`);
        }
        await sleep(50);
      }
    },
  };
}

/**
 * Applies one event to the buckets: reads the values it touches, folds the
 * event in (pure), and writes what changed by compare-and-set, the device
 * last: the rollout counts and the fleet read the device as it was before
 * the event, so a device that has the event means all of it was applied.
 * A write that loses a race starts over from fresh reads.
 */
export async function applyToStore(store: ProjectionStore, stored: StoredEvent): Promise<void> {
  const keys = touchedKeys(stored.event);
  if (keys.rollouts.length === 0 && keys.device === undefined && !keys.fleet) return;
  for (let attempt = 1; attempt <= MAX_CONFLICTS; attempt++) {
    const rollouts = await Promise.all(keys.rollouts.map((id) => store.get('rollouts', id)));
    const device: Entry<DeviceView> = keys.device ? await store.get('devices', keys.device) : { revision: 0 };
    const fleet: Entry<FleetView> = keys.fleet ? await store.get('fleet', FLEET_KEY) : { revision: 0 };
    const revisionOf = (id: string) => rollouts[keys.rollouts.indexOf(id)]?.revision ?? 0;
    const state = {
      rollouts: Object.fromEntries(
        rollouts.flatMap((entry, i) => (entry.value ? [[keys.rollouts[i], entry.value]] : [])),
      ) as Record<string, RolloutView>,
      devices: device.value ? { [device.value.deviceId]: device.value } : {},
      fleet: fleet.value ?? emptyFleet(),
    };
    const change = project(state, stored);
    const { rollout: r, fleet: f, device: d } = change;
    const written =
      (!r || (await store.write('rollouts', r.rolloutId, r, revisionOf(r.rolloutId)))) &&
      (!f || (await store.write('fleet', FLEET_KEY, f, fleet.revision))) &&
      (!d || (await store.write('devices', d.deviceId, d, device.revision)));
    if (written) return;
  }
  throw new Error(`event ${stored.sequence}: more than ${MAX_CONFLICTS} write conflicts in a row`);
}
