import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';

/** Every message JetStream stored on a subject, in stream order (read with the services' connection). */
export async function storedMessages(
  nc: NatsConnection,
  stream: string,
  subject: string,
): Promise<unknown[]> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream, { subjects_filter: subject });
  const count = info.state.subjects?.[subject] ?? 0;
  if (count === 0) return [];
  const consumer = await jetstream(nc).consumers.get(stream, { filter_subjects: subject });
  const messages: unknown[] = [];
  for await (const msg of await consumer.fetch({ max_messages: count, expires: 2000 })) {
    messages.push(msg.json());
    if (messages.length === count) break;
  }
  return messages;
}
