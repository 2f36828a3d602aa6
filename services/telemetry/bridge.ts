import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import {
  DEVICE_PROGRESS_SIGNAL,
  deviceUpdateWorkflowId,
  MAX_TELEMETRY_BYTES,
  parseJson,
  telemetrySchema,
  type Telemetry,
} from '../../core/index.ts';
import { TELEMETRY_STREAM } from '../nats/streams.ts';

export interface TelemetryBridgeOptions {
  nc: NatsConnection;
  temporal: Client;
  /** Durable consumer name; one per bridge deployment (replicas share it). */
  consumerName?: string;
  /** Told about messages that were dropped, and why (never their raw bytes). */
  onDropped?: (reason: string) => void;
}

export interface TelemetryBridge {
  stop(): Promise<void>;
}

/**
 * Delivers device telemetry from JetStream to the device update workflows as
 * signals. Invalid messages are dropped with a reason; a message whose
 * workflow is gone is acknowledged; a Temporal outage leaves the message
 * unacknowledged so JetStream redelivers it.
 */
export async function startTelemetryBridge(options: TelemetryBridgeOptions): Promise<TelemetryBridge> {
  const name = options.consumerName ?? 'telemetry-bridge';
  const jsm = await jetstreamManager(options.nc);
  await jsm.consumers.add(TELEMETRY_STREAM, {
    durable_name: name,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.New,
    ack_wait: 30_000_000_000,
    max_ack_pending: 1000,
  });
  const consumer = await jetstream(options.nc).consumers.get(TELEMETRY_STREAM, name);
  const messages = await consumer.consume();
  const dropped = options.onDropped ?? (() => {});

  const loop = (async () => {
    for await (const msg of messages) {
      await deliver(msg, options.temporal, dropped);
    }
  })();

  return {
    async stop() {
      await messages.close();
      await loop;
    },
  };
}

async function deliver(msg: JsMsg, temporal: Client, dropped: (reason: string) => void): Promise<void> {
  let report: Telemetry;
  try {
    report = parseJson(telemetrySchema, msg.data, {
      maxBytes: MAX_TELEMETRY_BYTES,
      what: `telemetry on ${msg.subject}`,
    });
  } catch (err) {
    dropped((err as Error).message);
    msg.term();
    return;
  }
  // The subject names the device that published it (its NATS permissions
  // guarantee that); a report claiming another device is forged.
  const subjectDevice = msg.subject.split('.')[2];
  if (report.deviceId !== subjectDevice) {
    dropped(`telemetry on ${msg.subject} claims device ${report.deviceId}`);
    msg.term();
    return;
  }
  try {
    await temporal.workflow
      .getHandle(deviceUpdateWorkflowId(report.deviceId, report.rolloutId))
      .signal(DEVICE_PROGRESS_SIGNAL, report);
    msg.ack();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) {
      dropped(`no running update ${deviceUpdateWorkflowId(report.deviceId, report.rolloutId)} for telemetry`);
      msg.ack();
    } else {
      msg.nak(1000);
    }
  }
}
