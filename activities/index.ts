import { UprollError, type CommandReply, type DomainEvent, type UpdateCommand } from '../core/index.ts';
import { withCodedFailures } from './failures.ts';

/** What the activities need from the services; wired once per worker. */
export interface ActivityDeps {
  devices: { sendUpdateCommand(deviceId: string, command: UpdateCommand): Promise<CommandReply> };
  eventLog: { append(event: DomainEvent, options: { msgId: string }): Promise<unknown> };
  /** One round of the metadata freshness job; absent on workers without online keys. */
  keepMetadataFresh?: () => Promise<unknown>;
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
    async recordDeviceEvent(event: DomainEvent<string, { workflowId: string }>): Promise<void> {
      await withCodedFailures(() =>
        deps.eventLog.append(event, { msgId: `${event.data.workflowId}/${event.type}` }),
      );
    },

    /** Appends a domain event once, under the caller's idempotence key. */
    async recordEvent(event: DomainEvent, msgId: string): Promise<void> {
      await withCodedFailures(() => deps.eventLog.append(event, { msgId }));
    },

    /** Re-signs whatever metadata nears its expiry, in both repositories. */
    keepMetadataFresh(): Promise<unknown> {
      const job = deps.keepMetadataFresh;
      return withCodedFailures(() => {
        if (!job)
          throw new UprollError('INVALID_INPUT', 'this worker holds no online keys for the freshness job');
        return job();
      });
    },
  };
}

export type UprollActivities = ReturnType<typeof createActivities>;
export * from './rollout-worker.ts';
