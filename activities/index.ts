import type { CommandReply, DeviceUpdateEvent, UpdateCommand } from '../core/index.ts';
import { withCodedFailures } from './failures.ts';

/** What the activities need from the services; wired once per worker. */
export interface ActivityDeps {
  devices: { sendUpdateCommand(deviceId: string, command: UpdateCommand): Promise<CommandReply> };
  eventLog: { append(event: DeviceUpdateEvent, options: { msgId: string }): Promise<unknown> };
}

/** Activities are thin: each one is a call into a service, with coded failures. */
export function createActivities(deps: ActivityDeps) {
  return {
    /** Commands the device over NATS request/reply; resolves once the device accepted. */
    sendUpdateCommand(deviceId: string, command: UpdateCommand): Promise<CommandReply> {
      return withCodedFailures(() => deps.devices.sendUpdateCommand(deviceId, command));
    },

    /**
     * Appends one device update event. The message id is derived from the
     * workflow and the event type, so a retried activity appends it once.
     */
    async recordDeviceEvent(event: DeviceUpdateEvent): Promise<void> {
      await withCodedFailures(() =>
        deps.eventLog.append(event, { msgId: `${event.data.workflowId}/${event.type}` }),
      );
    },
  };
}

export type UprollActivities = ReturnType<typeof createActivities>;
export * from './rollout-worker.ts';
