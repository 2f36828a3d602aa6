import { NativeConnection, Worker, type WorkflowBundleOption, bundleWorkflowCode } from '@temporalio/worker';

/** The task queue every Uproll workflow and activity runs on. */
export const TASK_QUEUE = 'uproll';

export interface UprollWorkerOptions {
  address: string;
  namespace?: string;
  /** From `createActivities(deps)`: the composition root wires services into activities. */
  activities: object;
  /** A pre-built bundle (tests, production); without it the workflows are bundled from source. */
  workflowBundle?: WorkflowBundleOption;
  identity?: string;
  /** Defaults to TASK_QUEUE; tests isolate themselves with their own. */
  taskQueue?: string;
}

/** Path of the workflow bundle's entry point, for `bundleWorkflowCode`. */
export const WORKFLOWS_PATH = new URL('../../workflows/index.ts', import.meta.url).pathname;

/** Bundles the workflow code once (tests, benchmarks), saying only warnings and errors. */
export async function bundleWorkflows(): Promise<string> {
  const ignore = () => {};
  const logger = {
    log: ignore,
    trace: ignore,
    debug: ignore,
    info: ignore,
    warn: (message: string) => console.warn(message),
    error: (message: string) => console.error(message),
  };
  return (await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger })).code;
}

/** Creates the rollout worker; run it with `worker.run()` and stop it with `worker.shutdown()`. */
export async function createUprollWorker(
  options: UprollWorkerOptions,
): Promise<{ worker: Worker; connection: NativeConnection }> {
  const connection = await NativeConnection.connect({ address: options.address });
  const worker = await Worker.create({
    connection,
    namespace: options.namespace ?? 'default',
    taskQueue: options.taskQueue ?? TASK_QUEUE,
    ...(options.identity ? { identity: options.identity } : {}),
    activities: options.activities,
    ...(options.workflowBundle
      ? { workflowBundle: options.workflowBundle }
      : { workflowsPath: WORKFLOWS_PATH }),
  });
  return { worker, connection };
}
