import { appendFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DomainEvent } from '../../core/index.ts';
import { EventOutbox } from '../../services/nats/index.ts';
import { startHarness, uniqueId, type Harness } from './harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

const keyEvent = (aggregateId: string, type: string): DomainEvent => ({
  aggregate: 'repository',
  aggregateId,
  type,
  at: new Date().toISOString(),
  data: { by: 'alice', summary: type },
});

describe('the event outbox', () => {
  it('keeps events made offline and sends them to the event log once, oldest first', async () => {
    const outbox = new EventOutbox(join(await mkdtemp(join(tmpdir(), 'uproll-outbox-')), 'outbox.jsonl'));
    const repository = uniqueId('repo');
    await outbox.add(uniqueId('e'), keyEvent(repository, 'repository.key.rotated'));
    await outbox.add(uniqueId('e'), keyEvent(repository, 'repository.key.revoked'));
    await appendFile(outbox.path, '{"torn": \n'); // a write cut short by a crash

    expect(await outbox.flush(h.eventLog)).toBe(2);
    expect(await outbox.flush(h.eventLog)).toBe(0);
    const logged = await h.eventLog.read('repository', repository);
    expect(logged.map(({ event }) => [event.type, (event.data as { by: string }).by])).toEqual([
      ['repository.key.rotated', 'alice'],
      ['repository.key.revoked', 'alice'],
    ]);
  });

  it('keeps what it could not send for the next flush', async () => {
    const outbox = new EventOutbox(join(await mkdtemp(join(tmpdir(), 'uproll-outbox-')), 'outbox.jsonl'));
    const repository = uniqueId('repo');
    await outbox.add(uniqueId('e'), keyEvent(repository, 'repository.release.published'));
    const unreachable = { append: () => Promise.reject(new Error('NATS is away')) };
    await expect(outbox.flush(unreachable as never)).rejects.toThrow('NATS is away');

    expect(await outbox.flush(h.eventLog)).toBe(1);
    expect((await h.eventLog.read('repository', repository)).map(({ event }) => event.type)).toEqual([
      'repository.release.published',
    ]);
  });
});
