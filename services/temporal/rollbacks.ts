import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { assertToken, UprollError } from '../../core/index.ts';
import type { RollbackInput, RollbackResult } from '../../workflows/contracts.ts';
import { isRolloutRunning } from './rollouts.ts';
import { rolloutIdKey } from './search-attributes.ts';
import { FLEET_WORKFLOW_TASK_TIMEOUT, TASK_QUEUE, type StartOptions } from './worker.ts';

export type RollbackHandle = WorkflowHandle<(input: RollbackInput) => Promise<RollbackResult>>;

/** Retries of a rollback past this many are refused: something else is wrong with those devices. */
export const MAX_ROLLBACK_ATTEMPTS = 100;

/**
 * The rollback of a rollout that ended, `rollback/<rolloutId>`, one per rollout;
 * its retries (for the devices it could not reach) `rollback/<rolloutId>/<attempt>`.
 */
export function rollbackWorkflowId(rolloutId: string, attempt = 1): string {
  const id = `rollback/${assertToken(rolloutId, 'rollout id')}`;
  if (!Number.isInteger(attempt) || attempt < 1 || attempt > MAX_ROLLBACK_ATTEMPTS)
    throw new UprollError(
      'INVALID_INPUT',
      `a rollback attempt is 1 to ${MAX_ROLLBACK_ATTEMPTS}, not ${attempt}`,
    );
  return attempt === 1 ? id : `${id}/${attempt}`;
}

/**
 * Starts `rollbackWorkflow` as `rollback/<rolloutId>` (a retry as
 * `rollback/<rolloutId>/<attempt>`); ALREADY_ROLLED_BACK while that one runs
 * or after it completed. One that failed or was terminated may be run again:
 * the devices it did roll back are left alone the second time.
 */
export async function startRollback(
  client: Client,
  input: RollbackInput,
  options: StartOptions = {},
): Promise<RollbackHandle> {
  try {
    return await client.workflow.start<(input: RollbackInput) => Promise<RollbackResult>>(
      'rollbackWorkflow',
      {
        taskQueue: options.taskQueue ?? TASK_QUEUE,
        workflowId: rollbackWorkflowId(input.rolloutId, input.attempt),
        workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
        args: [input],
        workflowTaskTimeout: FLEET_WORKFLOW_TASK_TIMEOUT,
        typedSearchAttributes: new TypedSearchAttributes([{ key: rolloutIdKey, value: input.rolloutId }]),
      },
    );
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError)
      throw new UprollError(
        'ALREADY_ROLLED_BACK',
        `rollout ${input.rolloutId} is being rolled back or was rolled back before (${rollbackWorkflowId(input.rolloutId, input.attempt)})`,
        { cause: err },
      );
    throw err;
  }
}

export function rollbackHandle(client: Client, rolloutId: string, attempt = 1): RollbackHandle {
  return client.workflow.getHandle(rollbackWorkflowId(rolloutId, attempt));
}

/**
 * True while the rollout runs, or a rollback of it after it ended (the first
 * or a retry): any of them may hold its devices. Retries start one after the
 * other, so the first attempt Temporal does not know ends the search.
 */
export async function isRolloutActive(client: Client, rolloutId: string): Promise<boolean> {
  if (await isRolloutRunning(client, rolloutId)) return true;
  for (let attempt = 1; attempt <= MAX_ROLLBACK_ATTEMPTS; attempt++) {
    const status = await rollbackHandle(client, rolloutId, attempt)
      .describe()
      .then(
        (description) => description.status.name,
        () => undefined,
      );
    if (status === undefined) return false;
    if (status === 'RUNNING') return true;
  }
  return false;
}
