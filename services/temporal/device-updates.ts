import {
  WorkflowExecutionAlreadyStartedError,
  type Client,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { deviceUpdateWorkflowId } from '../../core/index.ts';
import type { DeviceUpdateInput, DeviceUpdateResult, FollowedUpdate } from '../../workflows/contracts.ts';
import { deviceIdKey, rolloutIdKey } from './search-attributes.ts';
import { TASK_QUEUE, type StartOptions } from './worker.ts';

export type DeviceUpdateHandle = WorkflowHandleWithFirstExecutionRunId<
  (input: DeviceUpdateInput) => Promise<DeviceUpdateResult>
>;

/**
 * Starts `deviceUpdateWorkflow` as `device-update/<device>/<rollout>`. Starting
 * the same update twice fails (WorkflowExecutionAlreadyStartedError) rather
 * than racing a second transaction on the device.
 */
export function startDeviceUpdate(
  client: Client,
  input: DeviceUpdateInput,
  options: StartOptions = {},
): Promise<DeviceUpdateHandle> {
  return client.workflow.start<(input: DeviceUpdateInput) => Promise<DeviceUpdateResult>>(
    'deviceUpdateWorkflow',
    {
      taskQueue: options.taskQueue ?? TASK_QUEUE,
      workflowId: deviceUpdateWorkflowId(input.deviceId, input.command.rolloutId),
      args: [input],
      typedSearchAttributes: new TypedSearchAttributes([
        { key: deviceIdKey, value: input.deviceId },
        { key: rolloutIdKey, value: input.command.rolloutId },
      ]),
    },
  );
}

/**
 * Starts a rollout's device update as a workflow of its own (the rollout
 * follows its end through visibility, `awaitUpdateEnds`, rather than as its
 * parent), or finds it running: a retried start after one whose answer was
 * lost follows the same run.
 */
export async function startFollowedUpdate(
  client: Client,
  input: DeviceUpdateInput,
  taskQueue: string,
): Promise<FollowedUpdate> {
  try {
    const handle = await startDeviceUpdate(client, input, { taskQueue });
    return { workflowId: handle.workflowId, runId: handle.firstExecutionRunId };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    const running = await client.workflow.getHandle(err.workflowId).describe();
    // Closed in between: the caller's retry starts the next run.
    if (running.status.name !== 'RUNNING') throw err;
    return { workflowId: running.workflowId, runId: running.runId };
  }
}
