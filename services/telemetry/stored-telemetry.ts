import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  MAX_TELEMETRY_BYTES,
  parseDeviceMessage,
  subjects,
  telemetrySchema,
  type Telemetry,
} from '../../core/index.ts';
import { TELEMETRY_STREAM } from '../nats/index.ts';

/** How long a read of one device's stored telemetry may wait for its messages. */
const READ_WAIT_MS = 5000;

/**
 * The telemetry JetStream holds of one device for one update, in the order
 * the device sent it: what a device update reads when its signals came out
 * of order (two telemetry bridges, each with part of a device's messages).
 * Only the device's own subject is read, and a message that is not valid
 * telemetry of that device is left out, as the bridge leaves it out.
 */
export async function readStoredTelemetry(
  nc: NatsConnection,
  deviceId: string,
  rolloutId: string,
): Promise<Telemetry[]> {
  const subject = subjects.telemetry(deviceId);
  const info = await (
    await jetstreamManager(nc)
  ).streams.info(TELEMETRY_STREAM, { subjects_filter: subject });
  const count = info.state.subjects?.[subject] ?? 0;
  if (count === 0) return [];
  const consumer = await jetstream(nc).consumers.get(TELEMETRY_STREAM, {
    filter_subjects: subject,
    deliver_policy: DeliverPolicy.All,
  });
  const reports: Telemetry[] = [];
  let read = 0;
  for await (const msg of await consumer.fetch({ max_messages: count, expires: READ_WAIT_MS })) {
    read += 1;
    try {
      const report = parseDeviceMessage(telemetrySchema, msg, {
        maxBytes: MAX_TELEMETRY_BYTES,
        kind: 'telemetry',
      });
      if (report.rolloutId === rolloutId) reports.push(report);
    } catch {
      // Not telemetry of this device: the bridge dropped it too.
    }
    if (read === count || msg.info.pending === 0) break;
  }
  return reports;
}
