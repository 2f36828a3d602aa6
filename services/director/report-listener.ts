import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { isUprollError, TOKEN_PATTERN } from '../../core/index.ts';
import { REPORTS_STREAM, type EventLog } from '../nats/index.ts';
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
export async function startReportListener(options: {
  nc: NatsConnection;
  director: DirectorRepository;
  eventLog: EventLog;
  consumerName?: string;
  now?: () => Date;
}): Promise<ReportListener> {
  const name = options.consumerName ?? 'director-reports';
  const jsm = await jetstreamManager(options.nc);
  await jsm.consumers.add(REPORTS_STREAM, {
    durable_name: name,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.New,
    ack_wait: 30_000_000_000,
  });
  const messages = await (await jetstream(options.nc).consumers.get(REPORTS_STREAM, name)).consume();
  const now = options.now ?? (() => new Date());
  const loop = (async () => {
    for await (const msg of messages) {
      const deviceId = msg.subject.split('.')[2] ?? '';
      if (!TOKEN_PATTERN.test(deviceId)) {
        msg.term();
        continue;
      }
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
        if (!isUprollError(err)) {
          msg.nak(1000); // the Director's own trouble (disk, event log): try again
          continue;
        }
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
    }
  })();
  return {
    async stop() {
      await messages.close();
      await loop;
    },
  };
}
