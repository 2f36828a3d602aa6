import { workflowInfo } from '@temporalio/workflow';
import type { DeviceUpdateEventData, DomainEvent, ErrorInfo } from '../core/index.ts';

/** A device update event that says why: the rollback command, and by whom. */
export type RolledBackByCommand = DomainEvent<
  'device.update.rolled_back',
  DeviceUpdateEventData & { error: ErrorInfo }
>;

/**
 * The device event of a device a rollback sent back by command (a rollout's
 * own, or the rollback after its end): where the device says it went, so
 * projections follow it there. Workflow code only: its time is workflow time,
 * so replays build the same event.
 */
export function rolledBackByCommand(
  deviceId: string,
  rolloutId: string,
  revision: string | null,
  by: string,
): RolledBackByCommand {
  return {
    aggregate: 'device',
    aggregateId: deviceId,
    type: 'device.update.rolled_back',
    at: new Date().toISOString(),
    data: {
      rolloutId,
      rollout: rolloutId,
      revision: revision ?? '',
      workflowId: workflowInfo().workflowId,
      error: { code: 'ROLLED_BACK_BY_COMMAND', message: `back to ${revision ?? 'nothing'} (${by})` },
    },
  };
}
