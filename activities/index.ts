import {
  UprollError,
  type CommandReply,
  type DomainEvent,
  type RolloutTarget,
  type UpdateCommand,
} from '../core/index.ts';
import { withCodedFailures } from './failures.ts';

/** What the activities need from the services; wired once per worker. */
export interface ActivityDeps {
  devices: { sendUpdateCommand(deviceId: string, command: UpdateCommand): Promise<CommandReply> };
  eventLog: { append(event: DomainEvent, options: { msgId: string }): Promise<unknown> };
  /** The Director, for rollouts: assigns revisions and knows the fleet. Absent on workers without it. */
  releases?: {
    assign(deviceId: string, revision: string): Promise<void>;
    devices(target: RolloutTarget): Promise<string[]>;
  };
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

    /** Has the Director assign the revision to the device (idempotent: the same targets again). */
    assignRevision(deviceId: string, revision: string): Promise<void> {
      return withCodedFailures(() => releasesOf(deps).assign(deviceId, revision));
    },

    /** The device ids a rollout target names now, sorted. */
    resolveTargets(target: RolloutTarget): Promise<string[]> {
      return withCodedFailures(async () => [...(await releasesOf(deps).devices(target))].sort());
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

function releasesOf(deps: ActivityDeps): NonNullable<ActivityDeps['releases']> {
  if (!deps.releases)
    throw new UprollError('INVALID_INPUT', 'this worker has no Director to assign releases with');
  return deps.releases;
}
export * from './rollout-worker.ts';
