import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { assertToken, rolloutPolicySchema, rolloutTargetSchema, UprollError } from '../../core/index.ts';
import type { RolloutInput, RolloutResult } from '../../workflows/contracts.ts';
import { rolloutIdKey } from './search-attributes.ts';
import { FLEET_WORKFLOW_TASK_TIMEOUT, TASK_QUEUE, type StartOptions } from './worker.ts';

export type RolloutHandle = WorkflowHandle<(input: RolloutInput) => Promise<RolloutResult>>;

export function rolloutWorkflowId(rolloutId: string): string {
  return `rollout/${assertToken(rolloutId, 'rollout id')}`;
}

/** Room left in a 64-character token for the retry suffix of a device update (`-r<attempt>`). */
const MAX_ROLLOUT_ID_LENGTH = 56;

/**
 * Starts `rolloutWorkflow` as `rollout/<id>` on the deployment's task queue
 * (its device updates run there too) after checking its target and
 * policy (INVALID_INPUT naming the field). A rollout id is used once:
 * ROLLOUT_EXISTS if it was ever started, even if it has ended (its device
 * updates, leases and events are keyed by it).
 */

export async function startRollout(
  client: Client,
  input: RolloutInput,
  options: StartOptions = {},
): Promise<RolloutHandle> {
  if (input.rolloutId.length > MAX_ROLLOUT_ID_LENGTH)
    throw new UprollError('INVALID_INPUT', `a rollout id has at most ${MAX_ROLLOUT_ID_LENGTH} characters`);
  const target = rolloutTargetSchema.safeParse(input.target);
  const policy = rolloutPolicySchema.safeParse(input.policy ?? {});
  for (const [what, result] of [
    ['target', target],
    ['policy', policy],
  ] as const) {
    if (!result.success) {
      const issue = result.error.issues[0];
      throw new UprollError(
        'INVALID_INPUT',
        `rollout ${what}: ${issue?.path.join('.') || what}: ${issue?.message}`,
      );
    }
  }
  try {
    return await client.workflow.start<(input: RolloutInput) => Promise<RolloutResult>>('rolloutWorkflow', {
      taskQueue: options.taskQueue ?? TASK_QUEUE,
      workflowId: rolloutWorkflowId(input.rolloutId),
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      args: [input],
      workflowTaskTimeout: FLEET_WORKFLOW_TASK_TIMEOUT,
      typedSearchAttributes: new TypedSearchAttributes([{ key: rolloutIdKey, value: input.rolloutId }]),
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError)
      throw new UprollError(
        'ROLLOUT_EXISTS',
        `rollout ${input.rolloutId} was started before: choose another id`,
        {
          cause: err,
        },
      );
    throw err;
  }
}

export function rolloutHandle(client: Client, rolloutId: string): RolloutHandle {
  return client.workflow.getHandle(rolloutWorkflowId(rolloutId));
}

/** True while `rollout/<id>` runs; false once it ended in any way, or never existed. */
export async function isRolloutRunning(client: Client, rolloutId: string): Promise<boolean> {
  try {
    return (await rolloutHandle(client, rolloutId).describe()).status.name === 'RUNNING';
  } catch {
    return false;
  }
}
