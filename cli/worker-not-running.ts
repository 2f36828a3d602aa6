import { UprollError } from '../core/index.ts';

/** Temporal's answer to a query no worker polls for (even of an ended workflow), as the operator's next step. */
export function asWorkerNotRunning(err: unknown): unknown {
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : '';
  const message = err instanceof Error ? `${err.message} ${cause}` : '';
  if (!/no poller seen for task queue|query timed out before a worker could process it/i.test(message))
    return err;
  return new UprollError(
    'WORKER_NOT_RUNNING',
    "no worker is running for the deployment: a rollout's progress is read from its worker " +
      '(start `uproll serve` or `uproll worker`; `uproll rollout list` shows how rollouts ended without one)',
  );
}
