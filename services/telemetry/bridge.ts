import type { JsMsg } from '@nats-io/jetstream';
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
import { consumeDurably, TELEMETRY_STREAM } from '../nats/index.ts';

/** Signals sent at once. */
const BRIDGE_LANES = 16;

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
 * signals, several devices at once, each device's in order. Invalid messages are dropped with a reason; a message whose
 * workflow is gone is acknowledged; a Temporal outage leaves the message
 * unacknowledged so JetStream redelivers it.
 */
export function startTelemetryBridge(options: TelemetryBridgeOptions): Promise<TelemetryBridge> {
  const dropped = options.onDropped ?? (() => {});
  return consumeDurably(
    options.nc,
    TELEMETRY_STREAM,
    options.consumerName ?? 'telemetry-bridge',
    (msg) => deliver(msg, options.temporal, dropped),
    // Devices are independent; each device's reports reach its workflow in order.
    { lanes: BRIDGE_LANES, keyOf: (msg) => msg.subject },
  );
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
