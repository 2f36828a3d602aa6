import { ActivityFailure, ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import type * as activities from '../activities/index.ts';
import type { RolloutCommit, RolloutEventType } from '../core/index.ts';
import { rolledBackByCommand } from './rolled-back-by-command.ts';

export interface RollbackInput {
  rolloutId: string;
  /** Who asked, for the audit trail. */
  by: string;
  /** 1 (absent) for the first rollback; 2, 3, ... for each retry (`rollback/<rolloutId>/<attempt>`). */
  attempt?: number;
  /** A retry asks only these devices (those the rollbacks before could not reach); absent: every one. */
  devices?: string[];
}

/**
 * `rolled_back`: back on the revision before; `unchanged`: the device no longer runs what
 * the rollout put there (it moved on, or went back by itself), so it was left alone;
 * `busy`: another rollout holds it; `failed`: the command failed.
 */
export type RollbackOutcome = 'rolled_back' | 'unchanged' | 'busy' | 'failed';

export interface RollbackDeviceResult {
  deviceId: string;
  outcome: RollbackOutcome;
  /** The revision the rollout had committed. */
  from: string;
  /** The revision the device had committed before, by the event log. */
  previous?: string;
  /** What the device runs now, by its answer (null: nothing); absent when it was not asked. */
  runs?: string | null;
  reason?: { code: string; message: string };
}

export interface RollbackResult {
  rolloutId: string;
  by: string;
  /** Which rollback of the rollout this was: 1, then 2, 3, ... for retries. */
  attempt: number;
  counts: Record<RollbackOutcome, number>;
  devices: RollbackDeviceResult[];
}

/** Devices rolled back at once. */
const CONCURRENCY = 10;

const { recordEvent, rolloutCommits, acquireDevice, releaseDevice, rollbackDevice } =
  proxyActivities<activities.UprollActivities>({
    startToCloseTimeout: '1 minute',
    retry: {
      initialInterval: '1 second',
      maximumInterval: '30 seconds',
      maximumAttempts: 5,
      nonRetryableErrorTypes: ['INVALID_INPUT', 'COMMAND_REJECTED'],
    },
  });

/**
 * The rollback of a rollout that has ended (`rollback/<rolloutId>`): every
 * device it left on its revision, as the event log says, goes back to the
 * revision it committed before, the way a running rollout rolls back: the
 * device's own rollback command (it goes back only if this rollout put it
 * where it is, from its history, so its release-counter check is not in
 * the way), then the Director assigns that revision again. Each step is an
 * event on the rollout's log, once. A retry (`attempt` 2, 3, ...) asks
 * again only the devices it is given, with events of its own.
 */
export async function rollbackWorkflow(input: RollbackInput): Promise<RollbackResult> {
  const { rolloutId, by } = input;
  const attempt = input.attempt ?? 1;
  // The first rollback's events keep the ids they always had; a retry's are its own.
  const keyPrefix = attempt === 1 ? `rollback/${rolloutId}` : `rollback/${rolloutId}/${attempt}`;
  const retry = attempt === 1 ? {} : { attempt };
  const record = (type: RolloutEventType, key: string, data: Record<string, unknown>) =>
    recordEvent(
      { aggregate: 'rollout', aggregateId: rolloutId, type, at: new Date().toISOString(), data },
      `${keyPrefix}/${key}`,
    );

  const asked = input.devices === undefined ? undefined : new Set(input.devices);
  const commits = (await rolloutCommits(rolloutId)).filter((c) => !asked || asked.has(c.deviceId));
  await record('rollout.rollback.started', 'started', { by, devices: commits.length, ...retry });
  const devices: RollbackDeviceResult[] = [];
  const queue = [...commits];
  const workers = Array.from({ length: Math.min(CONCURRENCY, queue.length) }, async () => {
    for (let commit = queue.shift(); commit; commit = queue.shift()) {
      const result = await rollBack(commit);
      devices.push(result);
      await record('rollout.rollback.device', `device/${commit.deviceId}`, { by, ...result, ...retry });
    }
  });
  await Promise.all(workers);
  devices.sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0));
  const counts = { rolled_back: 0, unchanged: 0, busy: 0, failed: 0 };
  for (const device of devices) counts[device.outcome] += 1;
  await record('rollout.rollback.finished', 'finished', { by, counts, ...retry });
  return { rolloutId, by, attempt, counts, devices };

  async function rollBack(commit: RolloutCommit): Promise<RollbackDeviceResult> {
    const { deviceId } = commit;
    const from = commit.revision;
    const was = commit.previous === undefined ? {} : { previous: commit.previous };
    if (!(await acquireDevice(deviceId, rolloutId)))
      return {
        deviceId,
        outcome: 'busy',
        from,
        ...was,
        reason: { code: 'DEVICE_BUSY', message: 'another rollout holds it' },
      };
    try {
      // The device knows the update by the id it was commanded with (a retry's differs).
      const reply = await rollbackDevice(deviceId, commit.commandId);
      if (!reply.rolledBack) return { deviceId, outcome: 'unchanged', from, ...was, runs: reply.revision };
      await recordEvent(
        rolledBackByCommand(deviceId, rolloutId, reply.revision, by),
        `${keyPrefix}/device-event/${deviceId}`,
      );
      return { deviceId, outcome: 'rolled_back', from, ...was, runs: reply.revision };
    } catch (err) {
      return { deviceId, outcome: 'failed', from, ...was, reason: failureOf(err) };
    } finally {
      await releaseDevice(deviceId, rolloutId);
    }
  }
}

function failureOf(err: unknown): { code: string; message: string } {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure)
    return { code: cause.type ?? 'COMMAND_REJECTED', message: cause.message };
  return { code: 'COMMAND_REJECTED', message: err instanceof Error ? err.message : String(err) };
}
