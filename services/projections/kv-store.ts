import {
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  JetStreamApiCodes,
  JetStreamApiError,
} from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { ensureBucket, openBucket, type BucketSpec } from '../nats/index.ts';
import { ignoreNotFound } from './event-reader.ts';
import { ROLLOUT_COMMITS_BUCKET_SPEC } from './rollout-commit-pages.ts';
import { emptyFleet, type DeviceView, type FleetView, type Projections, type RolloutView } from './views.ts';

/** Names of the three projection buckets; tests and side-by-side rebuilds use others. */
export interface ProjectionBuckets {
  rollouts: string;
  devices: string;
  fleet: string;
}

export const PROJECTION_BUCKETS: ProjectionBuckets = {
  rollouts: 'UPROLL_ROLLOUTS',
  devices: 'UPROLL_DEVICES',
  fleet: 'UPROLL_FLEET',
};

/** The one key of the fleet bucket. */
export const FLEET_KEY = 'distribution';

export type ProjectionKind = keyof ProjectionBuckets;
interface ValueOf {
  rollouts: RolloutView;
  devices: DeviceView;
  fleet: FleetView;
}

function projectionBucketSpec(names: ProjectionBuckets, kind: ProjectionKind): BucketSpec {
  return { name: names[kind], description: `Uproll ${kind} projection (rebuildable)` };
}

/** One projection bucket, created when missing (history 1: a projection is its latest value). */
export function openProjectionBucket(
  nc: NatsConnection,
  names: ProjectionBuckets,
  kind: ProjectionKind,
): Promise<KV> {
  return openBucket(nc, projectionBucketSpec(names, kind));
}

/** Makes the projection buckets and the rollouts' commit pages, `replicas` copies each (start-up). */
export async function ensureProjectionBuckets(nc: NatsConnection, replicas: number): Promise<void> {
  for (const kind of KINDS) await ensureBucket(nc, projectionBucketSpec(PROJECTION_BUCKETS, kind), replicas);
  await ensureBucket(nc, ROLLOUT_COMMITS_BUCKET_SPEC, replicas);
}

/** A value as stored, with the revision a compare-and-set write must name (0: never written). */
export interface Entry<T> {
  value?: T;
  revision: number;
}

const KINDS: readonly ProjectionKind[] = ['rollouts', 'devices', 'fleet'];

/**
 * The projections in NATS KV: JSON values, written only by compare-and-set
 * on the revision read, so two writers never silently overwrite each other.
 * With `cacheSize`, the values last read or written are remembered: a
 * writer that is usually the only one (the projector) skips a read per key
 * and event, and a stale value costs one failed compare-and-set, after which
 * the key is read afresh.
 */
export class ProjectionStore {
  readonly #nc: NatsConnection;
  readonly #names: ProjectionBuckets;
  readonly #buckets: Record<ProjectionKind, KV>;
  readonly #cache: EntryCache | undefined;

  private constructor(
    nc: NatsConnection,
    names: ProjectionBuckets,
    buckets: Record<ProjectionKind, KV>,
    cacheSize: number,
  ) {
    this.#nc = nc;
    this.#names = names;
    this.#buckets = buckets;
    this.#cache = cacheSize > 0 ? new EntryCache(cacheSize) : undefined;
  }

  /** Opens the buckets, creating missing ones. */
  static async open(
    nc: NatsConnection,
    names: ProjectionBuckets = PROJECTION_BUCKETS,
    options: { cacheSize?: number } = {},
  ): Promise<ProjectionStore> {
    const [rollouts, devices, fleet] = await Promise.all(
      KINDS.map((kind) => openProjectionBucket(nc, names, kind)),
    );
    return new ProjectionStore(
      nc,
      names,
      { rollouts: rollouts!, devices: devices!, fleet: fleet! },
      options.cacheSize ?? 0,
    );
  }

  async get<K extends ProjectionKind>(kind: K, key: string): Promise<Entry<ValueOf[K]>> {
    const cached = this.#cache?.get(kind, key);
    if (cached) return cached as Entry<ValueOf[K]>;
    const stored = await this.#buckets[kind].get(key);
    // Deleted keys keep a marker whose revision the next write must name.
    const entry: Entry<ValueOf[K]> = !stored
      ? { revision: 0 }
      : stored.operation !== 'PUT'
        ? { revision: stored.revision }
        : { value: stored.json<ValueOf[K]>(), revision: stored.revision };
    this.#cache?.set(kind, key, entry);
    return entry;
  }

  /**
   * Writes (or, for undefined, deletes) a value if the key is still at
   * `revision`; false when another writer got there first.
   */
  async write<K extends ProjectionKind>(
    kind: K,
    key: string,
    value: ValueOf[K] | undefined,
    revision: number,
  ): Promise<boolean> {
    const bucket = this.#buckets[kind];
    try {
      if (value === undefined) {
        await bucket.delete(key, { previousSeq: revision });
        this.#cache?.forget(kind, key);
      } else {
        const written = await bucket.put(key, JSON.stringify(value), { previousSeq: revision });
        this.#cache?.set(kind, key, { value, revision: written });
      }
      return true;
    } catch (err) {
      this.#cache?.forget(kind, key);
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamWrongLastSequence)
        return false;
      throw err;
    }
  }

  /** Every live value of one bucket with its revision. */
  entries<K extends ProjectionKind>(kind: K): Promise<Map<string, Entry<ValueOf[K]>>> {
    return readBucket(this.#nc, this.#names[kind]);
  }
}

/** The entries read or written last, the least recently used dropped first. */
class EntryCache {
  readonly #entries = new Map<string, Entry<unknown>>();
  readonly #size: number;

  constructor(size: number) {
    this.#size = size;
  }

  get(kind: ProjectionKind, key: string): Entry<unknown> | undefined {
    const id = `${kind}/${key}`;
    const entry = this.#entries.get(id);
    if (entry) {
      this.#entries.delete(id);
      this.#entries.set(id, entry);
    }
    return entry;
  }

  set(kind: ProjectionKind, key: string, entry: Entry<unknown>): void {
    const id = `${kind}/${key}`;
    this.#entries.delete(id);
    this.#entries.set(id, entry);
    if (this.#entries.size > this.#size) this.#entries.delete(this.#entries.keys().next().value!);
  }

  forget(kind: ProjectionKind, key: string): void {
    this.#entries.delete(`${kind}/${key}`);
  }
}

/** The projections as plain objects; missing buckets read as empty. */
export async function readProjections(
  nc: NatsConnection,
  names: ProjectionBuckets = PROJECTION_BUCKETS,
): Promise<Projections> {
  const [rollouts, devices, fleet] = await Promise.all([
    readBucket<RolloutView>(nc, names.rollouts),
    readBucket<DeviceView>(nc, names.devices),
    readBucket<FleetView>(nc, names.fleet),
  ]);
  return {
    rollouts: valuesOf(rollouts),
    devices: valuesOf(devices),
    fleet: fleet.get(FLEET_KEY)?.value ?? emptyFleet(),
  };
}

/** The rollout projection alone: a rollout list need not read every device's value. */
export async function readRolloutViews(
  nc: NatsConnection,
  names: ProjectionBuckets = PROJECTION_BUCKETS,
): Promise<Record<string, RolloutView>> {
  return valuesOf(await readBucket<RolloutView>(nc, names.rollouts));
}

/** The device projection alone (every device's view, by id). */
export async function readDeviceViews(
  nc: NatsConnection,
  names: ProjectionBuckets = PROJECTION_BUCKETS,
): Promise<Record<string, DeviceView>> {
  return valuesOf(await readBucket<DeviceView>(nc, names.devices));
}

/** One device's projection, or undefined when there is none (or no bucket yet). */
export async function readDeviceView(
  nc: NatsConnection,
  deviceId: string,
  names: ProjectionBuckets = PROJECTION_BUCKETS,
): Promise<DeviceView | undefined> {
  return readKey<DeviceView>(nc, names.devices, deviceId);
}

/** The fleet projection alone: one key, however many devices. */
export async function readFleetView(
  nc: NatsConnection,
  names: ProjectionBuckets = PROJECTION_BUCKETS,
): Promise<FleetView> {
  return (await readKey<FleetView>(nc, names.fleet, FLEET_KEY)) ?? emptyFleet();
}

/** One key's latest value, read straight from the bucket's stream; undefined when none (or no bucket). */
async function readKey<T>(nc: NatsConnection, bucket: string, key: string): Promise<T | undefined> {
  const jsm = await jetstreamManager(nc);
  const message = await jsm.streams
    .getMessage(`KV_${bucket}`, { last_by_subj: `$KV.${bucket}.${key}` })
    .catch(ignoreNotFound);
  if (!message || (message.header?.get('KV-Operation') || 'PUT') !== 'PUT') return undefined;
  return message.json<T>();
}

/** Values one fetch of {@link readBucket} asks for, and how long it waits for them. */
const READ_BATCH = { max_messages: 1024, expires: 2_000 };

/**
 * The latest value of every key in one bucket, read in one pass through an
 * ordered consumer (last per subject), not one request per key. It reads in
 * fetches that end by themselves, and stops once the consumer has nothing
 * pending or a fetch comes back empty. A read that waited for the pending
 * count alone hung for good about one run in ten of
 * test/integration/rollout-restart.test.ts: after a nats-server (2.9) restart
 * the count can stay at 1 with nothing left to deliver.
 */
async function readBucket<T>(nc: NatsConnection, bucket: string): Promise<Map<string, Entry<T>>> {
  const stream = `KV_${bucket}`;
  const prefix = `$KV.${bucket}.`;
  const entries = new Map<string, Entry<T>>();
  const jsm = await jetstreamManager(nc);
  if (!(await jsm.streams.info(stream).catch(ignoreNotFound))) return entries;
  const consumer = await jetstream(nc).consumers.get(stream, {
    deliver_policy: DeliverPolicy.LastPerSubject,
  });
  try {
    let pending = (await consumer.info()).num_pending;
    while (pending > 0) {
      let received = 0;
      for await (const msg of await consumer.fetch(READ_BATCH)) {
        received++;
        pending = msg.info.pending;
        const operation = msg.headers?.get('KV-Operation') || 'PUT';
        // Our own JSON values; a value that does not parse is left out rather than stopping every reader.
        if (operation === 'PUT') {
          const value = parseValue<T>(msg.data);
          if (value !== undefined)
            entries.set(msg.subject.slice(prefix.length), { value, revision: msg.seq });
        }
        if (pending === 0) break;
      }
      if (received === 0) break;
    }
  } finally {
    await consumer.delete().catch(() => false);
  }
  return entries;
}

function parseValue<T>(data: Uint8Array): T | undefined {
  try {
    return JSON.parse(new TextDecoder().decode(data)) as T;
  } catch {
    return undefined;
  }
}

function valuesOf<T>(entries: Map<string, Entry<T>>): Record<string, T> {
  const values: Record<string, T> = {};
  for (const [key, { value }] of [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    if (value !== undefined) values[key] = value;
  return values;
}
