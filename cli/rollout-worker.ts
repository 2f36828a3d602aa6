import type { NatsConnection } from '@nats-io/transport-node';
import type { WorkflowBundleOption } from '@temporalio/worker';
import {
  DeviceCommands,
  DeviceLeases,
  EventLog,
  readPresence,
  RolloutTargets,
} from '../services/nats/index.ts';
import { readStoredTelemetry } from '../services/telemetry/index.ts';
import { readRolloutCommits, RolloutCommitPages } from '../services/projections/index.ts';
import { createUprollWorker, type TemporalAccess } from '../services/temporal/index.ts';
import { createActivities, type ActivityDeps } from '../activities/index.ts';

export interface RolloutWorkerOptions {
  temporalAddress: string;
  namespace?: string;
  /** TLS and API key of the deployment's Temporal (default: plain, as the local stack). */
  temporalAccess?: TemporalAccess;
  /** The service's NATS connection, shared by the activities. */
  nc: NatsConnection;
  /** A pre-built bundle; without it the workflows are bundled from source at start. */
  workflowBundle?: WorkflowBundleOption;
  /** How long a device has to answer one command request. */
  commandTimeoutMs?: number;
  /** The metadata freshness job, on workers that hold the online keys. */
  keepMetadataFresh?: () => Promise<unknown>;
  /** Whether a rollout still runs: a device lease left by one that ended is taken over. */
  isRolloutActive?: (rolloutId: string) => Promise<boolean>;
  /** Starts a rollout's device updates as workflows of their own. */
  startUpdate?: ActivityDeps['startUpdate'];
  /** Waits for device updates to end: a rollout follows those it started, and those its last run started. */
  updateEnds?: ActivityDeps['updateEnds'];
  /** The Director, on workers that run rollouts. */
  releases?: ActivityDeps['releases'];
  taskQueue?: string;
}

export interface RolloutWorker {
  /** Graceful: finishes running activities, then disconnects. Calling it again waits for the same stop. */
  stop(): Promise<void>;
}

/**
 * The rollout worker component: wires the NATS services into the activities
 * and runs the workflows and activities on the `uproll` task queue.
 */
export async function startRolloutWorker(options: RolloutWorkerOptions): Promise<RolloutWorker> {
  const leases = new DeviceLeases(options.nc);
  const activities = createActivities({
    devices: new DeviceCommands(options.nc, { timeoutMs: options.commandTimeoutMs }),
    leases: {
      acquire: (deviceId, rolloutId) => leases.acquire(deviceId, rolloutId, options.isRolloutActive),
      release: (deviceId, rolloutId) => leases.release(deviceId, rolloutId),
    },
    eventLog: new EventLog(options.nc),
    presence: { of: (deviceIds) => readPresence(options.nc, deviceIds) },
    telemetry: { stored: (deviceId, rolloutId) => readStoredTelemetry(options.nc, deviceId, rolloutId) },
    rolloutCommits: (rolloutId) => readRolloutCommits(options.nc, rolloutId),
    rolloutCommitPages: new RolloutCommitPages(options.nc),
    targets: new RolloutTargets(options.nc),
    ...(options.keepMetadataFresh ? { keepMetadataFresh: options.keepMetadataFresh } : {}),
    ...(options.releases ? { releases: options.releases } : {}),
    ...(options.startUpdate ? { startUpdate: options.startUpdate } : {}),
    ...(options.updateEnds ? { updateEnds: options.updateEnds } : {}),
  });
  const { worker, connection } = await createUprollWorker({
    address: options.temporalAddress,
    namespace: options.namespace,
    ...(options.temporalAccess ? { access: options.temporalAccess } : {}),
    activities,
    workflowBundle: options.workflowBundle,
    ...(options.taskQueue ? { taskQueue: options.taskQueue } : {}),
  });
  const running = worker.run();
  let stopped: Promise<void> | undefined;
  return {
    stop() {
      // Once: shutdown() throws unless the worker is RUNNING (it may have stopped by itself on a fatal error).
      stopped ??= (async () => {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await running;
        await connection.close();
      })();
      return stopped;
    },
  };
}
