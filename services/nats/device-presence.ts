import type { KV } from '@nats-io/kv';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import {
  heartbeatSchema,
  MAX_TELEMETRY_BYTES,
  parseDeviceMessage,
  type DevicePresence,
  type Heartbeat,
  type Clock,
} from '../../core/index.ts';
import { openBucket, type BucketSpec } from './buckets.ts';

/** KV bucket: one entry per device, the last time it was heard of and the time zone it reports. */
export const PRESENCE_BUCKET = 'UPROLL_PRESENCE';

export const PRESENCE_BUCKET_SPEC: BucketSpec = {
  name: PRESENCE_BUCKET,
  description: 'Uproll device presence: last heartbeat, revision and time zone',
};

/** A device heard again within this long is not written again (unless its revision, time zone or apps changed). */
const REWRITE_AFTER_MS = 60_000;

export interface PresenceTracker {
  stop(): Promise<void>;
}

/**
 * Keeps `UPROLL_PRESENCE` from the devices' heartbeats (plain NATS on
 * `uproll.dev.<id>.heartbeat`, where only that device may publish): when
 * each device was last heard of, the revision it runs and its time zone. Invalid heartbeats and
 * ones claiming another device are dropped. At most one write per device a
 * minute, so a large fleet's heartbeats cost the KV little.
 */
export async function startPresenceTracker(
  nc: NatsConnection,
  options: { now: Clock; onDropped?: (reason: string) => void },
): Promise<PresenceTracker> {
  const bucket = await openPresence(nc);
  const { now } = options;
  const written = new Map<
    string,
    { at: number; timezone?: string; revision: string | null; apps: string | undefined }
  >();
  const subscription: Subscription = nc.subscribe('uproll.dev.*.heartbeat');
  const loop = (async () => {
    for await (const msg of subscription) {
      let heartbeat: Heartbeat;
      try {
        heartbeat = parseDeviceMessage(heartbeatSchema, msg, {
          maxBytes: MAX_TELEMETRY_BYTES,
          kind: 'heartbeat',
        });
      } catch (err) {
        options.onDropped?.((err as Error).message);
        continue;
      }
      const at = now();
      const last = written.get(heartbeat.deviceId);
      const apps = heartbeat.apps ? JSON.stringify(heartbeat.apps) : undefined;
      const unchanged =
        last?.timezone === heartbeat.timezone && last?.revision === heartbeat.revision && last?.apps === apps;
      if (last && unchanged && at.getTime() - last.at < REWRITE_AFTER_MS) continue;
      const presence: DevicePresence = {
        lastSeenAt: at.toISOString(),
        revision: heartbeat.revision,
        ...(heartbeat.timezone ? { timezone: heartbeat.timezone } : {}),
        ...(heartbeat.apps ? { apps: heartbeat.apps } : {}),
      };
      await bucket.put(heartbeat.deviceId, JSON.stringify(presence)).then(
        () =>
          written.set(heartbeat.deviceId, {
            at: at.getTime(),
            timezone: heartbeat.timezone,
            revision: heartbeat.revision,
            apps,
          }),
        (err: unknown) => options.onDropped?.(`presence of ${heartbeat.deviceId}: ${(err as Error).message}`),
      );
    }
  })();
  return {
    async stop() {
      subscription.unsubscribe();
      await loop;
    },
  };
}

/**
 * Reads what the heartbeats said of these devices; devices never heard of
 * are absent. Their apps only `withApps` (the fleet view): a rollout reads
 * presence into its workflow history, where a fleet's app lists do not belong.
 */
export async function readPresence(
  nc: NatsConnection,
  deviceIds: readonly string[],
  { withApps = false }: { withApps?: boolean } = {},
): Promise<Record<string, DevicePresence>> {
  const bucket = await openPresence(nc);
  const found: Record<string, DevicePresence> = {};
  await Promise.all(
    deviceIds.map(async (deviceId) => {
      const entry = await bucket.get(deviceId);
      if (entry?.operation !== 'PUT') return;
      const { apps, ...presence } = entry.json<DevicePresence>();
      found[deviceId] = withApps && apps ? { ...presence, apps } : presence;
    }),
  );
  return found;
}

/** One bucket handle per connection: rollouts read presence often, creating it once is enough. */
const buckets = new WeakMap<NatsConnection, Promise<KV>>();

function openPresence(nc: NatsConnection): Promise<KV> {
  let bucket = buckets.get(nc);
  if (!bucket) {
    bucket = openBucket(nc, PRESENCE_BUCKET_SPEC);
    bucket.catch(() => buckets.delete(nc)); // a failed open is tried again next time
    buckets.set(nc, bucket);
  }
  return bucket;
}

/** A device last heard of longer ago than this counts as offline (heartbeats come every 30 s, written once a minute). */
export const ONLINE_WINDOW_MS = 5 * 60_000;

/** How many devices were heard of within the window, and how many longer ago. */
export interface OnlineCounts {
  online: number;
  offline: number;
}

/**
 * Follows the presence bucket: every device's last heartbeat as written, the
 * ones there first, then each change. `counts(now)` reads nothing: a fleet
 * page or a scrape costs the same at any fleet size. `stop` ends it.
 */
export async function watchPresence(nc: NatsConnection): Promise<{
  counts(now: number): OnlineCounts;
  stop(): void;
}> {
  const lastSeen = new Map<string, number>();
  const watch = await (await openPresence(nc)).watch({ ignoreDeletes: true });
  void (async () => {
    for await (const entry of watch) {
      if (entry.operation !== 'PUT') continue;
      try {
        const at = Date.parse(entry.json<DevicePresence>().lastSeenAt);
        if (Number.isFinite(at)) lastSeen.set(entry.key, at);
      } catch {
        // not a presence of ours: left out
      }
    }
  })();
  return {
    counts(now) {
      let online = 0;
      for (const at of lastSeen.values()) if (now - at <= ONLINE_WINDOW_MS) online++;
      return { online, offline: lastSeen.size - online };
    },
    stop: () => watch.stop(),
  };
}
