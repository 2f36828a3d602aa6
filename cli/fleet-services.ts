import type { NatsConnection } from '@nats-io/transport-node';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { WorkflowBundleOption } from '@temporalio/worker';
import type { ActivityDeps } from '../activities/index.ts';
import { startRolloutWorker, type RolloutWorker } from './rollout-worker.ts';
import { DEVICE_VERSION_REPORT_SIGNAL, deviceUpdateWorkflowId } from '../core/index.ts';
import { systemClock } from './system-clock.ts';
import { startReportListener, type DirectorRepository } from '../services/director/index.ts';
import { EventLog, startPresenceTracker } from '../services/nats/index.ts';
import { ensureDeploymentStorage } from './deployment-storage.ts';
import {
  deploymentDeviceQuotas,
  readNatsIdentity,
  startDeviceConnectionGuard,
} from '../services/nats-auth/index.ts';
import {
  connectDeploymentNats,
  connectDeploymentTemporal,
  deploymentClient,
} from './deployment-connections.ts';
import { localDeployment, type Deployment } from './deployment.ts';
import { startProjector } from '../services/projections/index.ts';
import {
  awaitUpdateEnds,
  ensureTemporalReady,
  isRolloutActive,
  startFollowedUpdate,
} from '../services/temporal/index.ts';
import { startTelemetryBridge, type TelemetryBridge } from '../services/telemetry/index.ts';

export interface FleetServicesOptions {
  /** The local stack these services run on, unless `deployment` names another. */
  stateDir: string;
  deployment?: Deployment;
  /** Pre-built workflow bundle; without it the worker bundles from source. */
  workflowBundle?: WorkflowBundleOption;
  /** How long a device has to answer a command request. */
  commandTimeoutMs?: number;
  /** Durable consumer name of the telemetry bridge. */
  bridgeConsumer?: string;
  /** Told about telemetry the bridge dropped. */
  onDropped?: (reason: string) => void;
  /** Told about a device revoked for its connections, or a count of them that failed. */
  onWarning?: (message: string) => void;
  /** The metadata freshness job, for a worker that holds the online keys. */
  keepMetadataFresh?: () => Promise<unknown>;
  /** Keep the KV projections (rollouts, devices, fleet versions) up to date from the event log (default true). */
  projector?: boolean;
  /** Forward device telemetry to the device updates and keep device presence (default true). */
  bridge?: boolean;
  /** The Director, for a worker that runs rollouts. */
  releases?: ActivityDeps['releases'];
  /**
   * The Director's repository: its report listener verifies the devices'
   * signed version reports and confirms each device update they show done.
   */
  director?: DirectorRepository;
  taskQueue?: string;
}

/**
 * The server side of Uproll on the local stack, in one process: the service
 * NATS connection, the streams, the event log, a Temporal client, the
 * telemetry bridge, the presence tracker (heartbeats), the Director's report listener and the rollout worker (which can be stopped and started
 * again, as after a restart).
 */
export async function startFleetServices(options: FleetServicesOptions) {
  const deployment = options.deployment ?? (await localDeployment(options.stateDir));
  const addresses = {
    temporal: deployment.temporal,
    temporalNamespace: deployment.temporalNamespace,
    nats: deployment.nats,
  };
  const nc: NatsConnection = await connectDeploymentNats(deployment, 'uproll-services');
  const closers: (() => Promise<unknown>)[] = [() => nc.drain()];
  let worker: RolloutWorker | undefined;
  const close = async () => {
    await worker?.stop();
    for (const closer of closers) await closer().catch(() => {});
  };
  try {
    const connection = await connectDeploymentTemporal(deployment);
    closers.unshift(() => connection.close());
    // Fails fast on a cluster without Uproll's namespace or search attributes; the dev server gets them.
    const notes = await ensureTemporalReady(connection, {
      namespace: deployment.temporalNamespace,
      address: deployment.temporal,
      register: deployment.local,
    });
    for (const note of notes) options.onWarning?.(`could not check ${note.unchecked}`);
    const quotas = await deploymentDeviceQuotas(options.stateDir);
    await ensureDeploymentStorage(nc, deployment, quotas);
    // Only where this state directory holds the deployment's NATS identity: it revokes with it.
    if (await readNatsIdentity(options.stateDir)) {
      const guard = startDeviceConnectionGuard({
        stateDir: options.stateDir,
        servers: deployment.nats,
        ...(deployment.natsTls ? { tls: deployment.natsTls } : {}),
        connectionsPerDevice: quotas.connections,
        intervalMs: 10_000,
        clock: systemClock,
        onRevoked: (deviceId, count) =>
          options.onWarning?.(
            `device ${deviceId} revoked: ${count} connections, over its quota of ${quotas.connections}`,
          ),
        onError: (err) => options.onWarning?.(`counting device connections: ${(err as Error).message}`),
      });
      closers.unshift(() => guard.stop());
    }
    if (options.projector !== false) {
      const projector = await startProjector(nc, {
        onError: (err, seq) => options.onDropped?.(`projection of event ${seq}: ${(err as Error).message}`),
      });
      closers.unshift(() => projector.stop());
    }
    const eventLog = new EventLog(nc);
    const client = deploymentClient(deployment, connection);
    if (options.bridge !== false) {
      const presence = await startPresenceTracker(nc, { now: systemClock, onDropped: options.onDropped });
      closers.unshift(() => presence.stop());
      const bridge: TelemetryBridge = await startTelemetryBridge({
        nc,
        temporal: client,
        consumerName: options.bridgeConsumer,
        onDropped: options.onDropped,
      });
      closers.unshift(() => bridge.stop());
    }
    if (options.director) {
      const listener = await startReportListener({
        nc,
        director: options.director,
        eventLog,
        now: systemClock,
        consumerName: options.bridgeConsumer ? `${options.bridgeConsumer}-reports` : undefined,
        onConfirmed: async (deviceId, rolloutId, report) => {
          const handle = client.workflow.getHandle(deviceUpdateWorkflowId(deviceId, rolloutId));
          await handle.signal(DEVICE_VERSION_REPORT_SIGNAL, report).catch((err: unknown) => {
            if (!(err instanceof WorkflowNotFoundError)) throw err; // that update is over: nothing to confirm
          });
        },
      });
      closers.unshift(() => listener.stop());
    }
    return {
      addresses,
      nc,
      client,
      eventLog,

      async startWorker(): Promise<void> {
        worker ??= await startRolloutWorker({
          temporalAddress: addresses.temporal,
          namespace: deployment.temporalNamespace,
          temporalAccess: deployment.temporalAccess,
          nc,
          workflowBundle: options.workflowBundle,
          commandTimeoutMs: options.commandTimeoutMs,
          ...(options.keepMetadataFresh ? { keepMetadataFresh: options.keepMetadataFresh } : {}),
          ...(options.releases ? { releases: options.releases } : {}),
          isRolloutActive: (rolloutId) => isRolloutActive(client, rolloutId),
          startUpdate: (input, taskQueue) => startFollowedUpdate(client, input, taskQueue),
          updateEnds: (updates, waitMs) => awaitUpdateEnds(client, updates, waitMs),
          ...(options.taskQueue ? { taskQueue: options.taskQueue } : {}),
        });
      },

      async stopWorker(): Promise<void> {
        await worker?.stop();
        worker = undefined;
      },

      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

export type FleetServices = Awaited<ReturnType<typeof startFleetServices>>;
