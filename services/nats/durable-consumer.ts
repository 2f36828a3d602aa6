import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';

export interface ConsumerLoop {
  /** Stops taking messages and waits for the one in hand. */
  stop(): Promise<void>;
}

export interface ConsumeOptions {
  /** Messages handled at once; those with the same key always one after the other, in order (default 1). */
  lanes?: number;
  keyOf?: (msg: JsMsg) => string;
}

/**
 * Runs `handle` on every new message of a stream through a durable pull
 * consumer with explicit acks (created if missing; replicas of a service
 * share it): one at a time, or in `lanes` side by side with each key's
 * messages in order. `handle` acks, naks or terminates each message; one
 * that throws is redelivered.
 */
export async function consumeDurably(
  nc: NatsConnection,
  stream: string,
  durableName: string,
  handle: (msg: JsMsg) => Promise<void>,
  options: ConsumeOptions = {},
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
  const lanes: Promise<void>[] = Array.from({ length: Math.max(1, options.lanes ?? 1) }, () =>
    Promise.resolve(),
  );
  const handleSafely = (msg: JsMsg) => handle(msg).catch(() => msg.nak(1000));
  const loop = (async () => {
    for await (const msg of messages) {
      if (lanes.length === 1) {
        await handleSafely(msg);
        continue;
      }
      const lane = laneOf(options.keyOf?.(msg) ?? msg.subject, lanes.length);
      lanes[lane] = lanes[lane]!.then(() => handleSafely(msg));
    }
  })();
  return {
    async stop() {
      await messages.close();
      await loop;
      await Promise.all(lanes);
    },
  };
}

/** A stable lane for a key (FNV-1a), so one key's messages share a lane. */
function laneOf(key: string, lanes: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % lanes;
}
