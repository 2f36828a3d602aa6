import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { assertToken, UprollError } from '../../core/index.ts';
import type { RollbackInput, RollbackResult } from '../../workflows/index.ts';
import { isRolloutRunning } from './rollouts.ts';
import { rolloutIdKey } from './search-attributes.ts';
import { TASK_QUEUE } from './worker.ts';

export type RollbackHandle = WorkflowHandle<(input: RollbackInput) => Promise<RollbackResult>>;

/** The rollback of a rollout that ended: one per rollout, ever. */
export function rollbackWorkflowId(rolloutId: string): string {
  return `rollback/${assertToken(rolloutId, 'rollout id')}`;
}

/**
 * Starts `rollbackWorkflow` as `rollback/<rolloutId>`; ALREADY_ROLLED_BACK
 * while one runs or after one completed. One that failed or was terminated
 * may be run again: the devices it did roll back are left alone the second time.
 */
export async function startRollback(client: Client, input: RollbackInput): Promise<RollbackHandle> {
  try {
    return await client.workflow.start<(input: RollbackInput) => Promise<RollbackResult>>(
      'rollbackWorkflow',
      {
        taskQueue: TASK_QUEUE,
        workflowId: rollbackWorkflowId(input.rolloutId),
        workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
        args: [input],
        typedSearchAttributes: new TypedSearchAttributes([{ key: rolloutIdKey, value: input.rolloutId }]),
      },
    );
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError)
      throw new UprollError(
        'ALREADY_ROLLED_BACK',
        `rollout ${input.rolloutId} is being rolled back or was rolled back before (${rollbackWorkflowId(input.rolloutId)})`,
        { cause: err },
      );
    throw err;
  }
}

export function rollbackHandle(client: Client, rolloutId: string): RollbackHandle {
  return client.workflow.getHandle(rollbackWorkflowId(rolloutId));
}

/** True while the rollout runs, or its rollback after it ended: either may hold its devices. */
export async function isRolloutActive(client: Client, rolloutId: string): Promise<boolean> {
  if (await isRolloutRunning(client, rolloutId)) return true;
  try {
    return (await rollbackHandle(client, rolloutId).describe()).status.name === 'RUNNING';
  } catch {
    return false;
  }
}
