import type { NatsConnection } from '@nats-io/transport-node';
import { UprollError } from '../core/index.ts';
import { ensureStreams, type DeviceQuotas } from '../services/nats/index.ts';
import { ensureProjectionBuckets } from '../services/projections/index.ts';
import type { OptionSpec } from './command.ts';
import type { SettingValue } from './deployment-settings.ts';

// What a deployment keeps in JetStream (streams, KV buckets), made at start with as many copies as
// its NATS can hold: one on a single server, three on a cluster, so a node's loss loses nothing.

export const natsReplicasOption = {
  'nats-replicas': {
    type: 'string',
    description:
      'copies JetStream keeps of each stream and bucket, 1 to 5 (or $UPROLL_NATS_REPLICAS; default: 3 when the server is in a cluster, else 1)',
  },
} satisfies Record<string, OptionSpec>;

/** JetStream keeps at most five copies of a stream. */
const MAX_REPLICAS = 5;
/** Copies on a cluster when none are named: a majority survives one node's loss. */
const CLUSTER_REPLICAS = 3;

/** The count `nats-replicas` names (option, variable or deployment file); undefined when none is given. */
export function natsReplicasSetting(given: SettingValue | undefined): number | undefined {
  if (given === undefined) return undefined;
  const count = /^\d$/.test(given.value) ? Number(given.value) : 0;
  if (count < 1 || count > MAX_REPLICAS)
    throw new UprollError(
      'INVALID_INPUT',
      `${given.label} must be a count from 1 to ${MAX_REPLICAS}, not ${JSON.stringify(given.value.slice(0, 20))}`,
    );
  return count;
}

/** The copies to keep: those the deployment names, else 3 on a clustered server and 1 on a single one. */
export function replicasFor(nc: NatsConnection, deployment: { natsReplicas?: number }): number {
  return deployment.natsReplicas ?? (nc.info?.cluster ? CLUSTER_REPLICAS : 1);
}

/**
 * Creates (or moves to the replica count) every stream and bucket the
 * services use, before any of them runs. Returns the count kept.
 */
export async function ensureDeploymentStorage(
  nc: NatsConnection,
  deployment: { natsReplicas?: number },
  quotas: DeviceQuotas,
): Promise<number> {
  const replicas = replicasFor(nc, deployment);
  await ensureStreams(nc, quotas, replicas);
  await ensureProjectionBuckets(nc, replicas);
  return replicas;
}
