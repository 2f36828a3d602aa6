import type { JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import {
  DEVICE_PROGRESS_SIGNAL,
  deviceUpdateWorkflowId,
  MAX_TELEMETRY_BYTES,
  parseDeviceMessage,
  telemetrySchema,
  type Telemetry,
} from '../../core/index.ts';
import { consumeBatchesDurably, TELEMETRY_STREAM } from '../nats/index.ts';

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
 * signals, several devices at once, each device's in order. The reports a
 * device sent while its previous signal was on its way go together in one
 * signal (under load, one signal for a device's whole burst). Invalid
 * messages are dropped with a reason; a message whose workflow is gone is
 * acknowledged; a Temporal outage leaves the messages unacknowledged so
 * JetStream redelivers them.
 */
export function startTelemetryBridge(options: TelemetryBridgeOptions): Promise<TelemetryBridge> {
  const dropped = options.onDropped ?? (() => {});
  return consumeBatchesDurably(
    options.nc,
    TELEMETRY_STREAM,
    options.consumerName ?? 'telemetry-bridge',
    (batch) => deliver(batch, options.temporal, dropped),
    // Devices are independent; each device's reports reach its workflow in order.
    { lanes: BRIDGE_LANES, keyOf: (msg) => msg.subject },
  );
}

async function deliver(batch: JsMsg[], temporal: Client, dropped: (reason: string) => void): Promise<void> {
  // One device's messages (the lane key is the subject): grouped by the update they belong to, in order.
  const byWorkflow = new Map<string, { reports: Telemetry[]; msgs: JsMsg[] }>();
  for (const msg of batch) {
    const report = validReport(msg, dropped);
    if (!report) continue;
    const workflowId = deviceUpdateWorkflowId(report.deviceId, report.rolloutId);
    const group = byWorkflow.get(workflowId) ?? { reports: [], msgs: [] };
    group.reports.push(report);
    group.msgs.push(msg);
    byWorkflow.set(workflowId, group);
  }
  for (const [workflowId, { reports, msgs }] of byWorkflow) {
    try {
      await temporal.workflow.getHandle(workflowId).signal(DEVICE_PROGRESS_SIGNAL, reports);
      for (const msg of msgs) msg.ack();
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err; // every message of the batch is redelivered
      dropped(`no running update ${workflowId} for telemetry`);
      for (const msg of msgs) msg.ack();
    }
  }
}

/** The report a message carries; undefined (and the message terminated) when it is not a valid one. */
function validReport(msg: JsMsg, dropped: (reason: string) => void): Telemetry | undefined {
  try {
    return parseDeviceMessage(telemetrySchema, msg, { maxBytes: MAX_TELEMETRY_BYTES, kind: 'telemetry' });
  } catch (err) {
    dropped((err as Error).message);
    msg.term();
    return undefined;
  }
}
