import { jetstream, JetStreamApiError, type JetStreamClient } from '@nats-io/jetstream';
import { DeliverPolicy } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { subjects, UprollError, type DomainEvent } from '../../core/index.ts';
import { EVENTS_STREAM } from './streams.ts';

/** JetStream's API error code for a failed expected-last-subject-sequence check. */
const WRONG_LAST_SEQUENCE = 10071;

export interface AppendOptions {
  /** Idempotence key (`Nats-Msg-Id`): a retried append with the same id is stored once. */
  msgId: string;
  /**
   * Optimistic concurrency: the stream sequence of the aggregate's last event
   * the writer saw (0 for a new aggregate). A writer that missed an event fails
   * with EVENT_CONFLICT instead of appending.
   */
  expectedLastSequence?: number;
}

/** An event as stored, with its stream sequence. */
export interface StoredEvent {
  sequence: number;
  event: DomainEvent;
}

export interface AppendResult {
  sequence: number;
  duplicate: boolean;
}

/** The append-only event log on JetStream, one subject per aggregate. */
export class EventLog {
  readonly #js: JetStreamClient;

  constructor(nc: NatsConnection) {
    this.#js = jetstream(nc);
  }

  async append(event: DomainEvent, options: AppendOptions): Promise<AppendResult> {
    const subject = subjects.events(event.aggregate, event.aggregateId);
    try {
      const ack = await this.#js.publish(subject, JSON.stringify(event), {
        msgID: options.msgId,
        expect: {
          streamName: EVENTS_STREAM,
          ...(options.expectedLastSequence === undefined
            ? {}
            : { lastSubjectSequence: options.expectedLastSequence }),
        },
      });
      return { sequence: ack.seq, duplicate: ack.duplicate };
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === WRONG_LAST_SEQUENCE) {
        throw new UprollError(
          'EVENT_CONFLICT',
          `${subject} moved past sequence ${options.expectedLastSequence}`,
          {
            cause: err,
          },
        );
      }
      throw err;
    }
  }

  /** Every event of one aggregate, oldest first. */
  async read(aggregate: DomainEvent['aggregate'], id: string): Promise<StoredEvent[]> {
    const subject = subjects.events(aggregate, id);
    if (!(await this.hasEvents(aggregate, id))) return [];
    const consumer = await this.#js.consumers.get(EVENTS_STREAM, {
      filter_subjects: subject,
      deliver_policy: DeliverPolicy.All,
    });
    const events: StoredEvent[] = [];
    try {
      for (;;) {
        const msg = await consumer.next({ expires: 5000 });
        if (msg === null) break;
        events.push({ sequence: msg.seq, event: msg.json<DomainEvent>() });
        if (msg.info.pending === 0) break;
      }
    } finally {
      await consumer.delete();
    }
    return events;
  }

  /** Whether the aggregate has any event on the log. */
  async hasEvents(aggregate: DomainEvent['aggregate'], id: string): Promise<boolean> {
    const jsm = await this.#js.jetstreamManager();
    return (
      (await jsm.streams.getMessage(EVENTS_STREAM, { last_by_subj: subjects.events(aggregate, id) })) !== null
    );
  }
}
