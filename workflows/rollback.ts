import {
  ActivityFailure,
  ApplicationFailure,
  continueAsNew,
  patched,
  proxyActivities,
  workflowInfo,
} from '@temporalio/workflow';
import type * as activities from '../activities/index.ts';
import type { ErrorInfo, RolloutCommit, RolloutEventType } from '../core/index.ts';
import { COMMITS_PAGE_SIZE } from './commit-pages.ts';
import { rolledBackByCommand } from './rolled-back-by-command.ts';
import type { RollbackDeviceResult, RollbackInput, RollbackResult } from './contracts.ts';
import { RollbackTally } from './rollback-tally.ts';

/** Devices rolled back at once; a rollback in pages, meant for large fleets, does more. */
const CONCURRENCY = 10;
const PAGED_CONCURRENCY = 25;
/** A run continues as new past this many events even if Temporal did not suggest it. */
const HISTORY_LIMIT = 8_000;

const { recordEvent, rolloutCommits, rolloutCommitsPage, acquireDevice, releaseDevice, rollbackDevice } =
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
 * again only the devices it is given, with events of its own. It reads the
 * commits in pages and continues as new when Temporal suggests it, with
 * counts, a cursor and a bounded list of results.
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
  if (input.carried || patched('rollback-commit-pages')) return inPages();
  const commits = (await rolloutCommits(rolloutId)).filter((c) => !asked || asked.has(c.deviceId));
  await record('rollout.rollback.started', 'started', { by, devices: commits.length, ...retry });
  const devices: RollbackDeviceResult[] = [];
  const queue = [...commits];
  await Promise.all(
    Array.from({ length: Math.min(CONCURRENCY, queue.length) }, async () => {
      for (let commit = queue.shift(); commit; commit = queue.shift())
        devices.push(await rollBackOnce(commit));
    }),
  );
  devices.sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0));
  const counts = { rolled_back: 0, unchanged: 0, busy: 0, failed: 0 };
  for (const device of devices) counts[device.outcome] += 1;
  await record('rollout.rollback.finished', 'finished', { by, counts, ...retry });
  return { rolloutId, by, attempt, counts, devices };

  /** Page by page from the carried cursor; continues as new when due, between devices. */
  async function inPages(): Promise<RollbackResult> {
    const tally = new RollbackTally(input.carried);
    let askedHere = 0;
    let page = await rolloutCommitsPage(rolloutId, input.carried?.cursor ?? null, COMMITS_PAGE_SIZE);
    if (!input.carried)
      await record('rollout.rollback.started', 'started', {
        by,
        devices: asked?.size ?? page.total,
        ...retry,
      });
    for (;;) {
      const start = page.next ? page.next.offset - page.commits.length : page.total - page.commits.length;
      let taken = 0;
      let due = false;
      const { commits } = page;
      const take = (): RolloutCommit | undefined => {
        // A run asks one device at least, so a history limit below what a run needs cannot loop.
        while (taken < commits.length && !(due ||= askedHere > 0 && continueAsNewDue())) {
          const commit = commits[taken++]!;
          if (asked && !asked.has(commit.deviceId)) continue;
          askedHere += 1;
          return commit;
        }
        return undefined;
      };
      await Promise.all(
        Array.from({ length: PAGED_CONCURRENCY }, async () => {
          for (let commit = take(); commit; commit = take()) tally.add(await rollBackOnce(commit));
        }),
      );
      const cursor = due ? { end: page.end, offset: start + taken } : page.next;
      if (due && cursor)
        return continueAsNew<typeof rollbackWorkflow>({ ...input, carried: tally.carry(cursor) });
      if (!cursor) break;
      page = await rolloutCommitsPage(rolloutId, cursor, COMMITS_PAGE_SIZE);
    }
    const { counts } = tally;
    await record('rollout.rollback.finished', 'finished', { by, counts, ...retry });
    return { rolloutId, by, attempt, counts, devices: tally.listed(), unlisted: tally.unlisted };
  }

  function continueAsNewDue(): boolean {
    const info = workflowInfo();
    return info.continueAsNewSuggested || info.historyLength > (input.historyLimit ?? HISTORY_LIMIT);
  }

  /** One device back, and its event (once, by its key). */
  async function rollBackOnce(commit: RolloutCommit): Promise<RollbackDeviceResult> {
    const result = await rollBack(commit);
    await record('rollout.rollback.device', `device/${commit.deviceId}`, { by, ...result, ...retry });
    return result;
  }

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

function failureOf(err: unknown): ErrorInfo {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure)
    return { code: cause.type ?? 'COMMAND_REJECTED', message: cause.message };
  return { code: 'COMMAND_REJECTED', message: err instanceof Error ? err.message : String(err) };
}
