import type { NatsConnection } from '@nats-io/transport-node';
import {
  deviceOfSubject,
  isUprollError,
  revisionNameOf,
  TOKEN_PATTERN,
  type VersionReport,
  type Clock,
} from '../../core/index.ts';
import { consumeDurably, RefusalSampler, REPORTS_STREAM, type EventLog } from '../nats/index.ts';
import type { DirectorRepository } from './director-repository.ts';

/** Reports handled at once (each device's stay in order). */
const REPORT_LANES = 8;

export interface ReportListener {
  stop(): Promise<void>;
}

/**
 * The Director's side of device reports: consumes signed manifests from
 * JetStream (`uproll.dev.<device>.report`, where only that device may
 * publish), verifies and records each, and appends `device.report.accepted`
 * or `device.report.rejected` (with the attack code) to the event log —
 * rejections sampled, one event per device per window with their count, so
 * a device sending junk cannot grow the permanent log. A
 * report showing the device runs what the Director assigned it for a
 * rollout is passed to `onConfirmed` (which tells that device update).
 * Devices are independent: their reports are handled side by side, each
 * device's in order.
 */
export async function startReportListener(options: {
  nc: NatsConnection;
  director: DirectorRepository;
  eventLog: EventLog;
  consumerName?: string;
  /** The reference time of report freshness checks. */
  now: Clock;
  /** At most one `device.report.rejected` per device in this window (default one minute). */
  rejectionWindowMs?: number;
  /** The device runs the revision assigned for `rolloutId`; throwing leaves the report to be redelivered. */
  onConfirmed?: (deviceId: string, rolloutId: string, report: VersionReport) => Promise<void>;
}): Promise<ReportListener> {
  const { now } = options;
  const rejections = new RefusalSampler({
    eventLog: options.eventLog,
    now,
    ...(options.rejectionWindowMs ? { windowMs: options.rejectionWindowMs } : {}),
  });
  const consumer = await consumeDurably(
    options.nc,
    REPORTS_STREAM,
    options.consumerName ?? 'director-reports',
    async (msg) => {
      const deviceId = deviceOfSubject(msg.subject);
      // Another Director's device (or none): not this Director's to judge.
      if (!TOKEN_PATTERN.test(deviceId) || !(await options.director.knows(deviceId))) return msg.term();
      const at = now();
      const base = { aggregate: 'device' as const, aggregateId: deviceId, at: at.toISOString() };
      try {
        const manifest = await options.director.receiveManifest(deviceId, msg.data, at);
        const installed = Object.values(manifest.ecuVersionReports)[0]?.signed.installedImage.filepath ?? '';
        const revision = revisionNameOf(installed);
        await options.eventLog.append(
          {
            ...base,
            type: 'device.report.accepted',
            data: {
              counter: manifest.counter,
              ecus: Object.keys(manifest.ecuVersionReports),
              ...(revision ? { revision } : {}),
            },
          },
          { msgId: `report/${deviceId}/${manifest.counter}` },
        );
        const assigned = await options.director.assignment(deviceId);
        if (revision && assigned?.paths.includes(installed))
          await options.onConfirmed?.(deviceId, assigned.rolloutId, { revision, counter: manifest.counter });
        msg.ack();
      } catch (err) {
        // The Director's own trouble (disk, event log) is retried; a bad report is refused for good.
        if (!isUprollError(err)) return msg.nak(1000);
        await rejections.record({
          aggregate: 'device',
          aggregateId: deviceId,
          type: 'device.report.rejected',
          source: deviceId,
          data: { error: { code: err.code, message: err.message } },
        });
        msg.term();
      }
    },
    { lanes: REPORT_LANES, keyOf: (msg) => msg.subject },
  );
  return {
    async stop() {
      await consumer.stop();
      await rejections.close(); // what was counted and not told yet
    },
  };
}
