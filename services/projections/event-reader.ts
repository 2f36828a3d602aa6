import {
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  JetStreamApiCodes,
  JetStreamApiError,
  type ConsumerMessages,
  type JsMsg,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import { TOKEN_PATTERN, type DomainEvent } from '../../core/index.ts';
import { EVENTS_STREAM, type StoredEvent } from '../nats/index.ts';

/** Every subject of the event log. */
export const ALL_EVENTS = 'uproll.evt.>';

/** The envelope every event must have; the data is each reader's business. */
const envelopeSchema = z.object({
  aggregate: z.string().regex(TOKEN_PATTERN),
  aggregateId: z.string().regex(TOKEN_PATTERN),
  type: z.string().min(1).max(128),
  at: z.string().max(64),
  data: z.unknown(),
});

export interface ReadEventsOptions {
  /** A subject filter within the log (one subject or one wildcard); the whole log by default. */
  filter?: string;
  /** The first stream sequence to read (1 by default). */
  fromSequence?: number;
  /** Keep reading new events until this signal aborts; without it, stop at the end of the log. */
  follow?: AbortSignal;
  /** Told about messages that are not events (skipped). */
  onUnreadable?: (sequence: number) => void;
}

/**
 * The events of the log, oldest first, through an ordered consumer (deleted
 * afterwards). Without `follow` it ends at the end of the log as of the last
 * message read; a log that does not exist yet reads as empty.
 */
export async function* readEvents(
  nc: NatsConnection,
  options: ReadEventsOptions = {},
): AsyncGenerator<StoredEvent> {
  if (!(await eventLogExists(nc))) return;
  const from = options.fromSequence ?? 1;
  const consumer = await jetstream(nc).consumers.get(EVENTS_STREAM, {
    filter_subjects: options.filter ?? ALL_EVENTS,
    ...(from > 1
      ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from }
      : { deliver_policy: DeliverPolicy.All }),
  });
  let messages: ConsumerMessages | undefined;
  const stop = () => void messages?.close();
  try {
    if (!options.follow && (await consumer.info()).num_pending === 0) return;
    if (options.follow?.aborted) return;
    messages = await consumer.consume({ max_messages: 512 });
    options.follow?.addEventListener('abort', stop, { once: true });
    for await (const msg of messages) {
      const stored = storedEventOf(msg);
      if (stored) yield stored;
      else options.onUnreadable?.(msg.seq);
      if (!options.follow && msg.info.pending === 0) break;
    }
  } finally {
    options.follow?.removeEventListener('abort', stop);
    await messages?.close();
    await consumer.delete().catch(() => false);
  }
}

/** The stream sequence of the log's newest event, 0 for an empty or missing log. */
export async function lastEventSequence(nc: NatsConnection): Promise<number> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(EVENTS_STREAM).catch(ignoreNotFound);
  return info?.state.last_seq ?? 0;
}

/** Parses a log message as an event; undefined when it is not one. */
export function storedEventOf(msg: Pick<JsMsg, 'seq' | 'data'>): StoredEvent | undefined {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(msg.data));
  } catch {
    return undefined;
  }
  const parsed = envelopeSchema.safeParse(value);
  // The aggregate is a token, not necessarily one this version knows: the audit trail shows it anyway.
  return parsed.success ? { sequence: msg.seq, event: parsed.data as DomainEvent } : undefined;
}

async function eventLogExists(nc: NatsConnection): Promise<boolean> {
  const jsm = await jetstreamManager(nc);
  return (await jsm.streams.info(EVENTS_STREAM).catch(ignoreNotFound)) !== undefined;
}

/** Turns a JetStream "stream not found" or "no message found" into undefined; rethrows anything else. */
export function ignoreNotFound(err: unknown): undefined {
  if (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamNotFound || err.code === JetStreamApiCodes.NoMessageFound)
  )
    return undefined;
  throw err;
}
