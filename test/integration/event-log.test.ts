import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DomainEvent } from '../../core/index.ts';
import { startHarness, uniqueId, type Harness } from './harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

function event(deviceId: string, type: string): DomainEvent {
  return { aggregate: 'device', aggregateId: deviceId, type, at: new Date(0).toISOString(), data: {} };
}

describe('event log on JetStream', () => {
  describe('when the same append is retried with the same message id', () => {
    it('stores the event once', async () => {
      const deviceId = uniqueId('evt');
      const first = await h.eventLog.append(event(deviceId, 'a'), { msgId: `${deviceId}/a` });
      const retry = await h.eventLog.append(event(deviceId, 'a'), { msgId: `${deviceId}/a` });

      expect(retry).toEqual({ sequence: first.sequence, duplicate: true });
      expect((await h.eventLog.read('device', deviceId)).map((e) => e.event.type)).toEqual(['a']);
    });
  });

  describe('when a writer appends with the expected last sequence of the aggregate', () => {
    it('appends while it is current and fails with EVENT_CONFLICT once another writer moved on', async () => {
      const deviceId = uniqueId('evt');
      const first = await h.eventLog.append(event(deviceId, 'created'), {
        msgId: uniqueId('m'),
        expectedLastSequence: 0,
      });
      await h.eventLog.append(event(deviceId, 'by-writer-1'), {
        msgId: uniqueId('m'),
        expectedLastSequence: first.sequence,
      });

      await expect(
        h.eventLog.append(event(deviceId, 'by-writer-2'), {
          msgId: uniqueId('m'),
          expectedLastSequence: first.sequence,
        }),
      ).rejects.toMatchObject({ code: 'EVENT_CONFLICT' });
      expect((await h.eventLog.read('device', deviceId)).map((e) => e.event.type)).toEqual([
        'created',
        'by-writer-1',
      ]);
    });
  });

  describe('when an aggregate has no events', () => {
    it('reads as empty', async () => {
      expect(await h.eventLog.read('device', uniqueId('nobody'))).toEqual([]);
    });
  });
});
