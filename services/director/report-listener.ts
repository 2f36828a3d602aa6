import type { NatsConnection } from '@nats-io/transport-node';
import { isUprollError, TOKEN_PATTERN } from '../../core/index.ts';
import { consumeDurably, REPORTS_STREAM, type EventLog } from '../nats/index.ts';
import type { DirectorRepository } from './director-repository.ts';

export interface ReportListener {
  stop(): Promise<void>;
}

/**
 * The Director's side of device reports: consumes signed manifests from
 * JetStream (`uproll.dev.<device>.report`, where only that device may
 * publish), verifies and records each, and appends `device.report.accepted`
 * or `device.report.rejected` (with the attack code) to the event log.
 */
export function startReportListener(options: {
  nc: NatsConnection;
  director: DirectorRepository;
  eventLog: EventLog;
  consumerName?: string;
  now?: () => Date;
}): Promise<ReportListener> {
  const now = options.now ?? (() => new Date());
  return consumeDurably(
    options.nc,
    REPORTS_STREAM,
    options.consumerName ?? 'director-reports',
    async (msg) => {
      const deviceId = msg.subject.split('.')[2] ?? '';
      if (!TOKEN_PATTERN.test(deviceId)) return msg.term();
      const at = now();
      const base = { aggregate: 'device' as const, aggregateId: deviceId, at: at.toISOString() };
      try {
        const manifest = await options.director.receiveManifest(deviceId, msg.data, at);
        await options.eventLog.append(
          {
            ...base,
            type: 'device.report.accepted',
            data: { counter: manifest.counter, ecus: Object.keys(manifest.ecuVersionReports) },
          },
          { msgId: `report/${deviceId}/${manifest.counter}` },
        );
        msg.ack();
      } catch (err) {
        // The Director's own trouble (disk, event log) is retried; a bad report is refused for good.
        if (!isUprollError(err)) return msg.nak(1000);
        await options.eventLog.append(
          {
            ...base,
            type: 'device.report.rejected',
            data: { error: { code: err.code, message: err.message } },
          },
          { msgId: `report-rejected/${deviceId}/${msg.seq}` },
        );
        msg.term();
      }
    },
  );
}
