import {
  DiscardPolicy,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { nanos } from '@nats-io/transport-node';
import { ensureBucket, withReplicasExplained } from './buckets.ts';
import { PRESENCE_BUCKET_SPEC } from './device-presence.ts';
import { DEFAULT_DEVICE_QUOTAS, type DeviceQuotas } from './device-quotas.ts';
import { ROLLOUT_TARGETS_BUCKET_SPEC } from './rollout-targets.ts';

/** The event log: every domain event, one subject per aggregate. Kept forever. */
export const EVENTS_STREAM = 'UPROLL_EVENTS';
/** Device telemetry, consumed by the telemetry bridge. */
export const TELEMETRY_STREAM = 'UPROLL_TELEMETRY';
/** Signed device manifests, consumed by the Director. */
export const REPORTS_STREAM = 'UPROLL_REPORTS';
/** Which rollout holds each device: the last message per device only. */
export const LEASES_STREAM = 'UPROLL_LEASES';

const DAY_MS = 24 * 60 * 60 * 1000;
/**
 * Device streams do not de-duplicate: a Nats-Msg-Id is the publisher's to
 * choose and the window is one per stream, so on a stream every device writes
 * to, one device could take another's ids first. Agents send none; consumers
 * drop repeats keyed by the subject's device. The window is the server's
 * minimum, so ids a device sends anyway cost the server little memory.
 */
const DEVICE_DUPLICATE_WINDOW = nanos(100);

/**
 * Bounds a stream devices write to, one subject per device: past its count a
 * device's new message replaces its own oldest (never another device's), and
 * past the stream's bytes new messages are refused rather than any stored one
 * pushed out (discard new; the per-subject limit still replaces old).
 */
const perDevice = (messages: number, bytes: number) => ({
  max_msgs_per_subject: messages,
  max_bytes: bytes,
  discard: DiscardPolicy.New,
  discard_new_per_subject: false,
});

const streams = (quotas: DeviceQuotas): (Partial<StreamConfig> & { name: string })[] => [
  {
    name: EVENTS_STREAM,
    subjects: ['uproll.evt.>'],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    // Activity retries within this window append an event once (Nats-Msg-Id).
    duplicate_window: nanos(30 * 60 * 1000),
  },
  {
    name: TELEMETRY_STREAM,
    subjects: ['uproll.dev.*.telemetry'],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    max_age: nanos(7 * DAY_MS),
    max_msg_size: 16 * 1024,
    duplicate_window: DEVICE_DUPLICATE_WINDOW,
    ...perDevice(quotas.telemetryPerDevice, quotas.telemetryStreamBytes),
  },
  {
    name: REPORTS_STREAM,
    subjects: ['uproll.dev.*.report'],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    max_age: nanos(30 * DAY_MS),
    max_msg_size: 64 * 1024,
    duplicate_window: DEVICE_DUPLICATE_WINDOW,
    ...perDevice(quotas.reportsPerDevice, quotas.reportsStreamBytes),
  },
  {
    name: LEASES_STREAM,
    subjects: ['uproll.lease.*'],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    max_msgs_per_subject: 1,
  },
];

/**
 * Creates the project's streams and its services' buckets (presence, rollout
 * targets), `replicas` copies of each (3 on a cluster), or updates them to
 * this configuration: a stream or bucket with another count is moved to it.
 * Idempotent. NATS_REPLICAS_UNAVAILABLE when too few nodes run JetStream.
 */
export async function ensureStreams(
  nc: NatsConnection,
  quotas: DeviceQuotas = DEFAULT_DEVICE_QUOTAS,
  replicas = 1,
): Promise<void> {
  const jsm = await jetstreamManager(nc);
  for (const config of streams(quotas)) {
    const exists = await jsm.streams.info(config.name).then(
      () => true,
      () => false,
    );
    const replicated = { ...config, num_replicas: replicas };
    await withReplicasExplained(`stream ${config.name}`, replicas, () =>
      exists ? jsm.streams.update(config.name, replicated) : jsm.streams.add(replicated),
    );
  }
  for (const spec of [PRESENCE_BUCKET_SPEC, ROLLOUT_TARGETS_BUCKET_SPEC])
    await ensureBucket(nc, spec, replicas);
}
