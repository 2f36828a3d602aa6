import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';

export interface ConsumerLoop {
  /** Stops taking messages and waits for those in hand. */
  stop(): Promise<void>;
}

export interface ConsumeOptions {
  /** Messages handled at once; those with the same key always one after the other, in order (default 1). */
  lanes?: number;
  keyOf?: (msg: JsMsg) => string;
}

export interface ConsumeBatchOptions extends ConsumeOptions {
  /** Most messages of one key handed over together (default 32). */
  maxBatch?: number;
}

/**
 * Runs `handle` on every new message of a stream through a durable pull
 * consumer with explicit acks (created if missing; replicas of a service
 * share it): one at a time, or in `lanes` side by side with each key's
 * messages in order. `handle` acks, naks or terminates each message; one
 * that throws is redelivered.
 */
export function consumeDurably(
  nc: NatsConnection,
  stream: string,
  durableName: string,
  handle: (msg: JsMsg) => Promise<void>,
  options: ConsumeOptions = {},
): Promise<ConsumerLoop> {
  const handleSafely = (msg: JsMsg) => handle(msg).catch(() => msg.nak(1000));
  return consumeBatchesDurably(
    nc,
    stream,
    durableName,
    async (batch) => {
      for (const msg of batch) await handleSafely(msg);
    },
    options,
  );
}

/**
 * Like {@link consumeDurably}, but hands over a key's messages that arrived
 * while its lane was busy together, oldest first: under load, one call does
 * the work of many (one signal for a device's burst of reports). When
 * `handleBatch` throws, every message of the batch is redelivered.
 */
export async function consumeBatchesDurably(
  nc: NatsConnection,
  stream: string,
  durableName: string,
  handleBatch: (batch: JsMsg[]) => Promise<void>,
  options: ConsumeBatchOptions = {},
): Promise<ConsumerLoop> {
  const jsm = await jetstreamManager(nc);
  await jsm.consumers.add(stream, {
    durable_name: durableName,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.New,
    ack_wait: 30_000_000_000,
    max_ack_pending: 1000,
  });
  const messages = await (await jetstream(nc).consumers.get(stream, durableName)).consume();
  const keyOf = options.keyOf ?? ((msg: JsMsg) => msg.subject);
  const lanes = Array.from(
    { length: Math.max(1, options.lanes ?? 1) },
    () => new Lane(handleBatch, options.maxBatch ?? 32),
  );
  const loop = (async () => {
    for await (const msg of messages) {
      const key = keyOf(msg);
      lanes[laneOf(key, lanes.length)]!.add(key, msg);
    }
  })();
  return {
    async stop() {
      await messages.close();
      await loop;
      await Promise.all(lanes.map((lane) => lane.idle()));
    },
  };
}

/** Messages waiting in one lane, in batches by key, in arrival order; handled one batch at a time. */
class Lane {
  /** Batches in the order they were opened (a Map keeps insertion order). */
  readonly #waiting = new Map<number, { key: string; msgs: JsMsg[] }>();
  /** The batch each key's next message joins, while it waits and has room. */
  readonly #open = new Map<string, JsMsg[]>();
  readonly #handleBatch: (batch: JsMsg[]) => Promise<void>;
  readonly #maxBatch: number;
  #opened = 0;
  #running: Promise<void> | undefined;

  constructor(handleBatch: (batch: JsMsg[]) => Promise<void>, maxBatch: number) {
    this.#handleBatch = handleBatch;
    this.#maxBatch = Math.max(1, maxBatch);
  }

  add(key: string, msg: JsMsg): void {
    let batch = this.#open.get(key);
    if (!batch || batch.length >= this.#maxBatch) {
      batch = [];
      this.#waiting.set(this.#opened++, { key, msgs: batch });
      this.#open.set(key, batch);
    }
    batch.push(msg);
    this.#running ??= this.#drain();
  }

  idle(): Promise<void> {
    return this.#running ?? Promise.resolve();
  }

  async #drain(): Promise<void> {
    for (let next = this.#takeFirst(); next; next = this.#takeFirst()) {
      await this.#handleBatch(next).catch(() => {
        for (const msg of next) msg.nak(1000);
      });
    }
    this.#running = undefined;
  }

  #takeFirst(): JsMsg[] | undefined {
    const first = this.#waiting.entries().next();
    if (first.done) return undefined;
    const [id, { key, msgs }] = first.value;
    this.#waiting.delete(id);
    // Taken: the key's next message opens a new batch.
    if (this.#open.get(key) === msgs) this.#open.delete(key);
    return msgs;
  }
}

/** A stable lane for a key (FNV-1a), so one key's messages share a lane. */
function laneOf(key: string, lanes: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % lanes;
}
