import type { Client, WorkflowHandle } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { deviceUpdateWorkflowId } from '../../core/index.ts';
import type { DeviceUpdateInput, DeviceUpdateResult } from '../../workflows/index.ts';
import { deviceIdKey, rolloutIdKey } from './search-attributes.ts';
import { TASK_QUEUE, type StartOptions } from './worker.ts';

export type DeviceUpdateHandle = WorkflowHandle<(input: DeviceUpdateInput) => Promise<DeviceUpdateResult>>;

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
