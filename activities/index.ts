import {
  isPermanent,
  isUprollError,
  parseValue,
  rolloutPolicySchema,
  UprollError,
  type RolloutPolicy,
  type RolloutPolicyInput,
  type CommandReply,
  type DevicePresence,
  type DeviceUpdateEvent,
  type DomainEvent,
  type RollbackReply,
  type RolloutCommit,
  type RolloutCommitsCursor,
  type RolloutCommitsPage,
  type RolloutTarget,
  type Telemetry,
  type UpdateCommand,
  type ErrorInfo,
  refusalOf,
} from '../core/index.ts';
import type { DeviceUpdateInput } from '../workflows/contracts.ts';
import type { FollowedUpdate, UpdateEnd } from '../workflows/contracts.ts';
import { withCodedFailures } from './failures.ts';

/** What the activities need from the services; wired once per worker. */
export interface ActivityDeps {
  devices: {
    sendUpdateCommand(deviceId: string, command: UpdateCommand): Promise<CommandReply>;
    rollback(deviceId: string, command: { rolloutId: string }): Promise<RollbackReply>;
  };
  /** Which rollout holds each device. */
  leases?: {
    acquire(deviceId: string, rolloutId: string): Promise<boolean>;
    release(deviceId: string, rolloutId: string): Promise<void>;
  };
  eventLog: { append(event: DomainEvent, options: { msgId: string }): Promise<unknown> };
  /** The Director, for rollouts: assigns revisions and knows the fleet. Absent on workers without it. */
  releases?: {
    /** `rolloutId`: the device update the assignment is for; its version report is matched to it. */
    assign(deviceId: string, revision: string, rolloutId?: string): Promise<void>;
    devices(target: RolloutTarget): Promise<string[]>;
  };
  /** The telemetry JetStream holds of one device for one update, in the order it was sent. */
  telemetry?: { stored(deviceId: string, rolloutId: string): Promise<Telemetry[]> };
  /** What the devices' heartbeats said: when each was last heard of, its time zone. */
  presence?: { of(deviceIds: readonly string[]): Promise<Record<string, DevicePresence>> };
  /** Each rollout's devices in wave order, stored in pages (services/nats RolloutTargets). */
  targets?: {
    snapshot(rolloutId: string, devices: () => Promise<readonly string[]>): Promise<number>;
    page(rolloutId: string, offset: number, limit: number): Promise<string[]>;
    extend(rolloutId: string, current: readonly string[]): Promise<{ offset: number; count: number }>;
  };
  /** The devices a rollout left on its revision, from the event log (for a rollback after it ended). */
  rolloutCommits?: (rolloutId: string) => Promise<RolloutCommit[]>;
  /** The same, a page at a time (services/projections RolloutCommitPages). */
  rolloutCommitPages?: {
    page(rolloutId: string, cursor: RolloutCommitsCursor | null, limit: number): Promise<RolloutCommitsPage>;
  };
  /** One round of the metadata freshness job; absent on workers without online keys. */
  keepMetadataFresh?: () => Promise<unknown>;
  /** Starts a rollout's device update as a workflow of its own (services/temporal startFollowedUpdate). */
  startUpdate?: (input: DeviceUpdateInput, taskQueue: string) => Promise<FollowedUpdate>;
  /** Waits for any of these device updates to end (services/temporal awaitUpdateEnds). */
  updateEnds?: (updates: readonly FollowedUpdate[], waitMs: number) => Promise<UpdateEnd[]>;
}

export interface BeginDeviceUpdateInput {
  deviceId: string;
  holdFor?: string;
  started: DeviceUpdateEvent;
  assign?: { revision: string; rolloutId: string };
}

/**
 * A device update opened with its command's first try: not `begun` while
 * another rollout holds the device; `commanded` with the device's answer
 * once it accepted; `refused` when it said no for good; neither when it did
 * not answer or was busy.
 */
export type OpenedDeviceUpdate =
  { begun: false } | { begun: true; commanded?: CommandReply; refused?: ErrorInfo };

/** Activities are thin: each one is a call into a service, with coded failures. */
export function createActivities(deps: ActivityDeps) {
  /**
   * Opens a device update in one step: takes the device for the rollout
   * (`holdFor`), appends the update's started event and has the Director
   * assign the revision (`assign`). False, with nothing done, while another
   * rollout holds the device. Each part is idempotent, so a retry repeats
   * it safely; the lease is the caller's to release, whatever happened.
   */
  const begin = (input: BeginDeviceUpdateInput): Promise<boolean> =>
    withCodedFailures(async () => {
      const { deviceId, holdFor, assign } = input;
      if (holdFor !== undefined && deps.leases && !(await deps.leases.acquire(deviceId, holdFor)))
        return false;
      await appendDeviceEvent(deps, input.started);
      if (assign) await releasesOf(deps).assign(deviceId, assign.revision, assign.rolloutId);
      return true;
    });

  return {
    /**
     * Commands the device over NATS request/reply; once it accepted, appends
     * `commanded` (the update's event saying so), in the same step.
     */
    sendUpdateCommand(
      deviceId: string,
      command: UpdateCommand,
      commanded: DeviceUpdateEvent,
    ): Promise<CommandReply> {
      return withCodedFailures(async () => {
        const reply = await deps.devices.sendUpdateCommand(deviceId, command);
        await appendDeviceEvent(deps, commanded);
        return reply;
      });
    },

    /** `begin` alone: what device updates started before `openDeviceUpdate` call. */
    beginDeviceUpdate: begin,

    /**
     * `begin`, then the update command's first try, in one step (one local
     * activity where there were two): the device's answer, or why it did not
     * accept it. A refusal (a permanent code) is final; an unreachable or
     * busy device is the caller's to command again. Only a failure to begin
     * fails the activity, so its retries never send the command twice for a
     * device that did not answer.
     */
    async openDeviceUpdate(
      input: BeginDeviceUpdateInput & { command: UpdateCommand; commanded: DeviceUpdateEvent },
    ): Promise<OpenedDeviceUpdate> {
      const { command, commanded, ...opening } = input;
      if (!(await begin(opening))) return { begun: false };
      try {
        const reply = await deps.devices.sendUpdateCommand(input.deviceId, command);
        await appendDeviceEvent(deps, commanded);
        return { begun: true, commanded: reply };
      } catch (err) {
        if (isUprollError(err) && isPermanent(err.code))
          return { begun: true, refused: { code: err.code, message: err.message } };
        return { begun: true };
      }
    },

    /**
     * Appends device update events, in order, then (with `release`, the
     * update's last step) lets the device go. Each event's message id is
     * derived from the workflow and the event type, so a retried activity
     * appends it once.
     */
    async recordDeviceEvents(
      events: DeviceUpdateEvent[],
      release?: { deviceId: string; rolloutId: string },
    ): Promise<void> {
      await withCodedFailures(async () => {
        for (const event of events) await appendDeviceEvent(deps, event);
        if (release) await deps.leases?.release(release.deviceId, release.rolloutId);
      });
    },

    /** Appends a domain event once, under the caller's idempotence key. */
    async recordEvent(event: DomainEvent, msgId: string): Promise<void> {
      await withCodedFailures(() => deps.eventLog.append(event, { msgId }));
    },

    /** Takes the device for the rollout; false while another rollout holds it. */
    acquireDevice(deviceId: string, rolloutId: string): Promise<boolean> {
      return withCodedFailures(async () => (deps.leases ? deps.leases.acquire(deviceId, rolloutId) : true));
    },

    releaseDevice(deviceId: string, rolloutId: string): Promise<void> {
      return withCodedFailures(async () => deps.leases?.release(deviceId, rolloutId));
    },

    /**
     * Returns a device the rollout updated to its last committed revision,
     * and has the Director assign that revision again. Resolves to the
     * revision the device runs now (null when it never ran one).
     */
    async rollbackDevice(
      deviceId: string,
      rolloutId: string,
    ): Promise<{ rolledBack: boolean; revision: string | null }> {
      return withCodedFailures(async () => {
        const reply = await deps.devices.rollback(deviceId, { rolloutId });
        if (!reply.accepted) throw refusalOf(deviceId, 'the rollback', reply.error);
        if (reply.revision) await releasesOf(deps).assign(deviceId, reply.revision);
        return { rolledBack: reply.rolledBack, revision: reply.revision };
      });
    },

    /** The devices a rollout that ended left on its revision, and what each ran before (event log). */
    rolloutCommits(rolloutId: string): Promise<RolloutCommit[]> {
      return withCodedFailures(async () => {
        if (!deps.rolloutCommits)
          throw new UprollError('INVALID_INPUT', 'this worker cannot read the event log for rollbacks');
        return deps.rolloutCommits(rolloutId);
      });
    },

    /** Up to `limit` of those, from `cursor` (null: the first page, of the list as it is now). */
    rolloutCommitsPage(
      rolloutId: string,
      cursor: RolloutCommitsCursor | null,
      limit: number,
    ): Promise<RolloutCommitsPage> {
      return withCodedFailures(async () => {
        if (!deps.rolloutCommitPages)
          throw new UprollError('INVALID_INPUT', 'this worker cannot read the event log for rollbacks');
        return deps.rolloutCommitPages.page(rolloutId, cursor, limit);
      });
    },

    /** Starts a rollout's device update as a workflow of its own on `taskQueue`, or finds it running. */
    startFollowedUpdate(input: DeviceUpdateInput, taskQueue: string): Promise<FollowedUpdate> {
      return withCodedFailures(async () => {
        if (!deps.startUpdate)
          throw new UprollError('INVALID_INPUT', 'this worker cannot start device updates of a rollout');
        return deps.startUpdate(input, taskQueue);
      });
    },

    /**
     * The ends of device updates a rollout follows (those it started, those
     * its last run handed over), once any has ended or after `waitMs` (then
     * none; with 0, one look).
     */
    awaitUpdateEnds(updates: FollowedUpdate[], waitMs: number): Promise<UpdateEnd[]> {
      return withCodedFailures(async () => {
        if (!deps.updateEnds)
          throw new UprollError('INVALID_INPUT', 'this worker cannot follow device updates it did not start');
        return deps.updateEnds(updates, waitMs);
      });
    },

    /** When each device was last heard of and its time zone; devices never heard of are absent. */
    devicePresence(deviceIds: string[]): Promise<Record<string, DevicePresence>> {
      return withCodedFailures(async () => (deps.presence ? deps.presence.of(deviceIds) : {}));
    },

    /** A rollout policy with its defaults; INVALID_INPUT naming the field when it does not make sense. */
    parseRolloutPolicy(policy: RolloutPolicyInput): Promise<RolloutPolicy> {
      return withCodedFailures(() =>
        Promise.resolve(parseValue(rolloutPolicySchema, policy, 'rollout policy')),
      );
    },

    /** The device ids a rollout target names now, sorted. */
    resolveTargets(target: RolloutTarget): Promise<string[]> {
      return withCodedFailures(async () => [...(await releasesOf(deps).devices(target))].sort());
    },

    /**
     * Stores the rollout's devices in wave order, once: `devices` (what an
     * earlier run had planned) or its target now, sorted. Returns how many.
     */
    snapshotTarget(rolloutId: string, target: RolloutTarget, devices?: string[]): Promise<number> {
      return withCodedFailures(() =>
        targetsOf(deps).snapshot(
          rolloutId,
          async () => devices ?? [...(await releasesOf(deps).devices(target))].sort(),
        ),
      );
    },

    /** Up to `limit` devices of the rollout's stored list, from `offset`. */
    targetPage(rolloutId: string, offset: number, limit: number): Promise<string[]> {
      return withCodedFailures(() => targetsOf(deps).page(rolloutId, offset, limit));
    },

    /** Devices of a dynamic target that joined it since the plan, appended to the stored list. */
    extendTarget(rolloutId: string, target: RolloutTarget): Promise<{ offset: number; count: number }> {
      return withCodedFailures(async () =>
        targetsOf(deps).extend(rolloutId, [...(await releasesOf(deps).devices(target))].sort()),
      );
    },

    /**
     * The device's stored telemetry of this update: a device update whose
     * signals came out of order (several telemetry bridges) fills the phases
     * it missed from it. None on a worker without the stream.
     */
    storedTelemetry(deviceId: string, rolloutId: string): Promise<Telemetry[]> {
      return withCodedFailures(async () => (await deps.telemetry?.stored(deviceId, rolloutId)) ?? []);
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

/** A device update event is one per type and workflow: its message id says so. */
function appendDeviceEvent(deps: ActivityDeps, event: DeviceUpdateEvent): Promise<unknown> {
  return deps.eventLog.append(event, { msgId: `${event.data.workflowId}/${event.type}` });
}

function targetsOf(deps: ActivityDeps): NonNullable<ActivityDeps['targets']> {
  if (!deps.targets) throw new UprollError('INVALID_INPUT', 'this worker has no store for rollout targets');
  return deps.targets;
}

function releasesOf(deps: ActivityDeps): NonNullable<ActivityDeps['releases']> {
  if (!deps.releases)
    throw new UprollError('INVALID_INPUT', 'this worker has no Director to assign releases with');
  return deps.releases;
}
