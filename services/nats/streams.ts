import {
  DiscardPolicy,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { nanos } from '@nats-io/transport-node';
import { DEFAULT_DEVICE_QUOTAS, type DeviceQuotas } from './device-quotas.ts';

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

/** Creates the project's streams, or updates them to this configuration. Idempotent. */
export async function ensureStreams(
  nc: NatsConnection,
  quotas: DeviceQuotas = DEFAULT_DEVICE_QUOTAS,
): Promise<void> {
  const jsm = await jetstreamManager(nc);
  for (const config of streams(quotas)) {
    const exists = await jsm.streams.info(config.name).then(
      () => true,
      () => false,
    );
    if (exists) await jsm.streams.update(config.name, config);
    else await jsm.streams.add(config);
  }
}
