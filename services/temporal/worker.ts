import {
  NativeConnection,
  Worker,
  bundleWorkflowCode,
  type WorkerOptions,
  type WorkflowBundleOption,
} from '@temporalio/worker';
import { PLAIN_TEMPORAL_ACCESS, temporalConnectOptions, type TemporalAccess } from './temporal-access.ts';

/**
 * The task queue Uproll's workflows and activities run on unless the
 * deployment names its own (`--task-queue`): deployments that share a
 * Temporal namespace each need one, or their workers take each other's tasks.
 */
export const TASK_QUEUE = 'uproll';

/** Where a workflow is started: the deployment's task queue (default TASK_QUEUE). */
export interface StartOptions {
  taskQueue?: string;
}

export interface UprollWorkerOptions {
  address: string;
  /** Defaults to `default`, the local stack's. */
  namespace?: string;
  /** TLS and API key of the deployment's Temporal; default plain, as the local stack. */
  access?: TemporalAccess;
  /** From `createActivities(deps)`: the composition root wires services into activities. */
  activities: object;
  /** A pre-built bundle (tests, production); without it the workflows are bundled from source. */
  workflowBundle?: WorkflowBundleOption;
  identity?: string;
  /** Defaults to TASK_QUEUE; each deployment on a namespace, and each test that spawns workers, has its own. */
  taskQueue?: string;
}

/**
 * Worker options the rollout worker runs with beyond the SDK's defaults;
 * bench:rollout's floor worker runs with the same, so the two compare.
 */
export const uprollWorkerTuning: Pick<WorkerOptions, 'maxCachedWorkflows'> = {};

/**
 * Workflow task time limit of the workflows that follow many devices
 * (rollouts, rollbacks; their runs after continue-as-new keep it). On a
 * busy worker their task waits behind hundreds of device updates' tasks: at
 * Temporal's default 10 s it timed out, and each retry, a full replay of
 * thousands of events off the sticky cache, timed out again (bench:rollout,
 * 5000 devices beside the test suite: one rollout stood still for 90 s).
 */
export const FLEET_WORKFLOW_TASK_TIMEOUT = '1 minute';

/** Path of the workflow bundle's entry point, for `bundleWorkflowCode`. */
export const WORKFLOWS_PATH = new URL('../../workflows/index.ts', import.meta.url).pathname;

/**
 * Bundles the workflow code once (tests, benchmarks), saying only warnings
 * and errors; `workflowsPath`: another entry point (a benchmark's own workflows).
 */
export async function bundleWorkflows(workflowsPath = WORKFLOWS_PATH): Promise<string> {
  const ignore = () => {};
  const logger = {
    log: ignore,
    trace: ignore,
    debug: ignore,
    info: ignore,
    warn: (message: string) => console.warn(message),
    error: (message: string) => console.error(message),
  };
  return (await bundleWorkflowCode({ workflowsPath, logger })).code;
}

/** Creates the rollout worker; run it with `worker.run()` and stop it with `worker.shutdown()`. */
export async function createUprollWorker(
  options: UprollWorkerOptions,
): Promise<{ worker: Worker; connection: NativeConnection }> {
  const connection = await NativeConnection.connect(
    temporalConnectOptions(options.address, options.access ?? PLAIN_TEMPORAL_ACCESS),
  );
  const worker = await Worker.create({
    connection,
    namespace: options.namespace ?? 'default',
    taskQueue: options.taskQueue ?? TASK_QUEUE,
    ...(options.identity ? { identity: options.identity } : {}),
    activities: options.activities,
    ...uprollWorkerTuning,
    ...(options.workflowBundle
      ? { workflowBundle: options.workflowBundle }
      : { workflowsPath: WORKFLOWS_PATH }),
  });
  return { worker, connection };
}
