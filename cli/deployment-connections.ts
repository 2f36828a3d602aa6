import type { NatsConnection } from '@nats-io/transport-node';
import { Client, Connection } from '@temporalio/client';
import { UprollError } from '../core/index.ts';
import { connectToNats } from '../services/nats/index.ts';
import { requireNamespace, temporalConnectOptions } from '../services/temporal/index.ts';
import { deploymentOf, type Deployment } from './deployment.ts';
import { asWorkerNotRunning } from './worker-not-running.ts';

/** An unreachable server fails the command in seconds, not after a client's own long wait. */
const CONNECT_TIMEOUT_MS = 5000;

/** The reason a connection failed, in one line. */
const reasonOf = (cause: unknown) => (cause instanceof Error ? cause.message : String(cause)).split('\n')[0];

/** TLS errors of a certificate the client could not check against the CAs it trusts. */
const UNTRUSTED_CERTIFICATE = /unable to verify|self[- ]signed certificate|unable to get (local )?issuer/i;

/**
 * Why NATS could not be reached; for a certificate of a CA the command does
 * not trust, what to do about it (Node's own hint, --use-system-ca, is not it).
 */
export function natsReasonOf(cause: unknown): string {
  const reason = reasonOf(cause) ?? '';
  if (!UNTRUSTED_CERTIFICATE.test(reason)) return reason;
  return (
    `${reason.replace(/;[^;]*--use-system-ca/i, '')}: ` +
    'its certificate is from a CA this command does not trust; name it with --nats-ca-file or ' +
    "$UPROLL_NATS_CA (the local stack's is <state-dir>/tls/ca.crt)"
  );
}

/**
 * Connects to the deployment's NATS as the services user: NATS_UNREACHABLE
 * when it does not answer or refuses the credentials (STACK_NOT_RUNNING, with
 * the command to run, for the local stack).
 */
export async function connectDeploymentNats(deployment: Deployment, name: string): Promise<NatsConnection> {
  return connectToNats({
    servers: deployment.nats,
    nkeySeed: deployment.natsCredentials,
    name,
    timeoutMs: CONNECT_TIMEOUT_MS,
    ...(deployment.natsTls ? { tls: deployment.natsTls } : {}),
  }).catch((cause: unknown) => {
    throw unreachable(deployment, 'NATS', deployment.nats, 'NATS_UNREACHABLE', natsReasonOf(cause), cause);
  });
}

/** Connects to the deployment's Temporal: TEMPORAL_UNREACHABLE (STACK_NOT_RUNNING for the local stack). */
export async function connectDeploymentTemporal(deployment: Deployment): Promise<Connection> {
  return Connection.connect({
    ...temporalConnectOptions(deployment.temporal, deployment.temporalAccess),
    connectTimeout: CONNECT_TIMEOUT_MS,
  }).catch((cause: unknown) => {
    throw unreachable(
      deployment,
      'Temporal',
      deployment.temporal,
      'TEMPORAL_UNREACHABLE',
      reasonOf(cause),
      cause,
    );
  });
}

/** Why the deployment's `what` at `address` is out of reach; for the local stack, how to start it. */
function unreachable(
  deployment: Deployment,
  what: string,
  address: string,
  code: 'NATS_UNREACHABLE' | 'TEMPORAL_UNREACHABLE',
  reason: string | undefined,
  cause: unknown,
): UprollError {
  return deployment.local
    ? new UprollError('STACK_NOT_RUNNING', `cannot reach ${what} at ${address}: run \`uproll dev up\``, {
        cause,
      })
    : new UprollError(code, `cannot reach ${what} at ${address}: ${reason}`, { cause });
}

/** Runs `body` with the services' NATS connection to the deployment the options name, closed after. */
export async function withDeploymentNats<T>(
  values: Record<string, unknown>,
  body: (nc: NatsConnection) => Promise<T>,
): Promise<T> {
  const nc = await connectDeploymentNats(await deploymentOf(values), 'uproll-cli');
  try {
    return await body(nc);
  } finally {
    await nc.close();
  }
}

/** A client on the deployment's namespace. */
export function deploymentClient(deployment: Deployment, connection: Connection): Client {
  return new Client({ connection, namespace: deployment.temporalNamespace });
}

/**
 * Runs `body` with a Temporal client of the deployment the options name,
 * closed after. A named deployment's namespace that does not exist is
 * TEMPORAL_NOT_READY (not a rollout or workflow that is not found).
 */
export async function withDeploymentTemporal<T>(
  values: Record<string, unknown>,
  body: (client: Client) => Promise<T>,
): Promise<T> {
  const deployment = await deploymentOf(values);
  const connection = await connectDeploymentTemporal(deployment);
  try {
    if (!deployment.local)
      await requireNamespace(connection, {
        namespace: deployment.temporalNamespace,
        address: deployment.temporal,
      });
    return await body(deploymentClient(deployment, connection));
  } catch (err) {
    throw asWorkerNotRunning(err);
  } finally {
    await connection.close();
  }
}
