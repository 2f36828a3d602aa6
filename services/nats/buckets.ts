import { jetstreamManager, JetStreamApiError, type StreamConfig } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { UprollError } from '../../core/index.ts';

/** A KV bucket Uproll keeps: made once at start with the deployment's replica count. */
export interface BucketSpec {
  name: string;
  description: string;
}

/**
 * JetStream's answers when it cannot place the copies asked for: not enough
 * resources / peers (10023, 10005), or replicas above the cluster's size (10074).
 */
const TOO_FEW_NODES = new Set([10005, 10023, 10074]);

/**
 * Runs a stream or bucket change, turning "not enough nodes for the copies"
 * into NATS_REPLICAS_UNAVAILABLE that says how to fix it.
 */
export async function withReplicasExplained<T>(
  what: string,
  replicas: number,
  change: () => Promise<T>,
): Promise<T> {
  try {
    return await change();
  } catch (err) {
    if (err instanceof JetStreamApiError && TOO_FEW_NODES.has(err.code))
      throw new UprollError(
        'NATS_REPLICAS_UNAVAILABLE',
        `JetStream cannot keep ${replicas} copies of ${what}: ${err.message}. ` +
          'Start more JetStream nodes, or give a smaller --nats-replicas ($UPROLL_NATS_REPLICAS)',
        { cause: err },
      );
    throw err;
  }
}

/**
 * Creates the bucket with `replicas` copies, or moves an existing one to that
 * many (JetStream copies the data to the new peers). History 1: each key's
 * latest value only. Idempotent.
 */
export async function ensureBucket(nc: NatsConnection, spec: BucketSpec, replicas: number): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const stream = `KV_${spec.name}`;
  const info = await jsm.streams.info(stream).catch(() => undefined);
  await withReplicasExplained(`bucket ${spec.name}`, replicas, async () => {
    if (!info) await openBucket(nc, spec, replicas);
    else if (info.config.num_replicas !== replicas)
      await jsm.streams.update(stream, { ...info.config, num_replicas: replicas } satisfies StreamConfig);
  });
}

/**
 * Opens the bucket, creating it with `replicas` copies (default 1) when
 * missing: start-up made it already with the deployment's count
 * (`ensureBucket`), so this is for stores opened without (tests, tools).
 */
export function openBucket(nc: NatsConnection, spec: BucketSpec, replicas = 1): Promise<KV> {
  return new Kvm(nc).create(spec.name, { history: 1, description: spec.description, replicas });
}
