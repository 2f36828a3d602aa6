import type { PubAck } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { deliverUntilStored } from '../../../agent/report-delivery.ts';

const ack = (duplicate: boolean): PubAck => ({ stream: 'UPROLL_TELEMETRY', seq: 1, duplicate });

describe('delivering a report to JetStream', () => {
  describe('when the server acknowledges the new report as a duplicate', () => {
    it('says so in the log and publishes it again until it is stored', async () => {
      const answers = [ack(true), ack(true), ack(false)];
      const lines: string[] = [];
      let published = 0;
      await deliverUntilStored({
        publish: () => Promise.resolve(answers[published++]!),
        seq: 7,
        signal: new AbortController().signal,
        stopped: () => false,
        log: (line) => lines.push(line),
      });

      expect(published).toBe(3);
      expect(lines).toEqual([
        expect.stringContaining('report 7 waits for NATS: JetStream acknowledged report 7 as a duplicate'),
        expect.stringContaining('report 7 waits for NATS: JetStream acknowledged report 7 as a duplicate'),
      ]);
    });

    it('never counts it delivered: closing the client ends the delivery with REPORT_NOT_STORED', async () => {
      const closing = new AbortController();
      const delivery = deliverUntilStored({
        publish: () => {
          closing.abort();
          return Promise.resolve(ack(true));
        },
        seq: 1,
        signal: closing.signal,
        stopped: () => closing.signal.aborted,
      });
      await expect(delivery).rejects.toThrowWithCode('REPORT_NOT_STORED');
    });
  });
});
