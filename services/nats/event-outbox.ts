import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import type { DomainEvent } from '../../core/index.ts';
import { withFileLock, writeFileAtomic } from '../../adapters/fs/index.ts';
import type { EventLog } from './event-log.ts';

/** An outbox holds what a few operators did offline; past this it refuses rather than grow forever. */
const MAX_OUTBOX_BYTES = 16 * 1024 * 1024;

const pendingSchema = z.object({
  id: z.string().min(1).max(128),
  event: z.object({
    aggregate: z.enum(['device', 'rollout', 'repository', 'api']),
    aggregateId: z.string().min(1).max(256),
    type: z.string().min(1).max(128),
    at: z.iso.datetime(),
    data: z.unknown(),
  }),
});
type PendingEvent = z.infer<typeof pendingSchema>;

/**
 * Events an operator's command made, kept in a local file until the event log
 * has them: a key ceremony on an offline machine, or a release published while
 * NATS is away, still reaches the audit trail, once (each event's id is its
 * Nats-Msg-Id), the next time anything flushes the outbox.
 */
export class EventOutbox {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  /** Keeps `event` (durably: appended and synced before this returns). */
  async add(id: string, event: DomainEvent): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    await withFileLock(this.path, async () => {
      const size = (await readFile(this.path).catch(() => Buffer.alloc(0))).byteLength;
      if (size > MAX_OUTBOX_BYTES)
        throw new Error(
          `the event outbox ${this.path} is full: run uproll serve (or any command on the stack) to send it`,
        );
      await appendFile(this.path, `${JSON.stringify({ id, event } satisfies PendingEvent)}\n`, {
        mode: 0o600,
        flush: true,
      });
    });
  }

  /** Appends every kept event to `eventLog`, oldest first, and forgets those it appended; how many. */
  async flush(eventLog: EventLog): Promise<number> {
    return withFileLock(this.path, async () => {
      const pending = await this.#read();
      let sent = 0;
      try {
        for (const { id, event } of pending) {
          await eventLog.append(event, { msgId: `outbox/${id}` });
          sent += 1;
        }
      } finally {
        if (sent > 0) {
          const rest = pending.slice(sent).map((entry) => `${JSON.stringify(entry)}\n`);
          await writeFileAtomic(this.path, rest.join(''), { mode: 0o600 });
        }
      }
      return sent;
    });
  }

  /** Kept events; a line that is not one (a torn write) is dropped. */
  async #read(): Promise<PendingEvent[]> {
    const text = await readFile(this.path, 'utf8').catch(() => '');
    return text.split('\n').flatMap((line) => {
      if (!line) return [];
      try {
        const parsed = pendingSchema.safeParse(JSON.parse(line));
        return parsed.success ? [parsed.data] : [];
      } catch {
        return [];
      }
    });
  }
}
