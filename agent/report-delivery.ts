import type { PubAck } from '@nats-io/jetstream';
import { setTimeout as sleep } from 'node:timers/promises';
import { isUprollError, UprollError } from '../core/index.ts';

const MAX_BACKOFF_MS = 10_000;

export interface ReportDelivery {
  /** Publishes the report once to JetStream (no Nats-Msg-Id: see {@link deliverUntilStored}). */
  publish: () => Promise<PubAck>;
  /** The journal's sequence number of the report, for log lines. */
  seq: number;
  /** Cuts a backoff short when the client closes. */
  signal: AbortSignal;
  /** True once retrying is over (the client closed): the last error is thrown. */
  stopped: () => boolean;
  log?: (line: string) => void;
}

/**
 * Publishes a report until JetStream stores it, with backoff. An ack that
 * says `duplicate` for this new report means the server kept something else
 * under its id and not this report: it is an error, logged and retried,
 * never counted as delivered. (Device streams do not de-duplicate by id: the
 * consumers drop a repeat, keyed by the subject's device.)
 */
export async function deliverUntilStored(delivery: ReportDelivery): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      const ack = await delivery.publish();
      if (!ack.duplicate) return;
      throw new UprollError(
        'REPORT_NOT_STORED',
        `JetStream acknowledged report ${delivery.seq} as a duplicate and did not store it`,
      );
    } catch (err) {
      if (delivery.stopped()) throw err;
      if (attempt === 1 || isUprollError(err, 'REPORT_NOT_STORED'))
        delivery.log?.(`report ${delivery.seq} waits for NATS: ${(err as Error).message}`);
      await sleep(Math.min(250 * 2 ** Math.min(attempt, 6), MAX_BACKOFF_MS), undefined, {
        signal: delivery.signal,
      }).catch(() => {});
    }
  }
}
