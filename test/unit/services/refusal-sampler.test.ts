import { describe, expect, it } from 'vitest';
import type { DomainEvent } from '../../../core/index.ts';
import { RefusalSampler, type Refusal } from '../../../services/nats/index.ts';
import { eventually } from '../../helpers/eventually.ts';

/** An event log that keeps what is appended (the integration tests use the real one). */
function memoryLog() {
  const events: DomainEvent[] = [];
  return {
    events,
    append: (event: DomainEvent) => {
      events.push(event);
      return Promise.resolve({ sequence: events.length, duplicate: false });
    },
  };
}

const refusal = (source: string, n = 0): Refusal => ({
  aggregate: 'api',
  aggregateId: 'management',
  type: 'api.call.refused',
  source,
  data: { path: `/api/${n}` },
});
const counts = (events: DomainEvent[]) => events.map((e) => (e.data as { count: number }).count);

describe('refusals on the event log', () => {
  describe('when one source is refused many times within a window', () => {
    it('appends its first refusal at once and one event counting the rest when the window ends', async () => {
      const log = memoryLog();
      const sampler = new RefusalSampler({ eventLog: log, now: () => new Date(), windowMs: 200 });
      for (let i = 0; i < 1000; i++) await sampler.record(refusal('127.0.0.1', i));
      expect(counts(log.events)).toEqual([1]);

      await eventually('the window to end', () => log.events.length === 2);
      expect(counts(log.events)).toEqual([1, 999]);
      expect(log.events[1]?.data).toMatchObject({ source: '127.0.0.1', path: '/api/999' });
      await sampler.close();
      expect(log.events).toHaveLength(2);
    });
  });

  describe('when several sources are refused', () => {
    it('counts each apart, and sources past the cap together', async () => {
      const log = memoryLog();
      const sampler = new RefusalSampler({ eventLog: log, now: () => new Date(), maxSources: 2 });
      for (const source of ['a', 'b', 'c', 'd', 'a', 'c', 'd']) await sampler.record(refusal(source));
      await sampler.close();

      const bySource = log.events.map((e) => [(e.data as { source: string }).source, counts([e])[0]]);
      expect(bySource).toEqual([
        ['a', 1],
        ['b', 1],
        ['*', 1],
        ['a', 1],
        ['*', 3],
      ]);
    });
  });
});
