import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';

export interface ConsumerLoop {
  /** Stops taking messages and waits for the one in hand. */
  stop(): Promise<void>;
}

/**
 * Runs `handle` on every new message of a stream, one at a time, through a
 * durable pull consumer with explicit acks (created if missing; replicas of
 * a service share it). `handle` acks, naks or terminates each message.
 */
export async function consumeDurably(
  nc: NatsConnection,
  stream: string,
  durableName: string,
  handle: (msg: JsMsg) => Promise<void>,
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
  const loop = (async () => {
    for await (const msg of messages) await handle(msg);
  })();
  return {
    async stop() {
      await messages.close();
      await loop;
    },
  };
}
