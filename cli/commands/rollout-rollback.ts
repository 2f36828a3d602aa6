import type { Client } from '@temporalio/client';
import { UprollError } from '../../core/index.ts';
import { EventLog, type StoredEvent } from '../../services/nats/index.ts';
import { startRollback } from '../../services/temporal/index.ts';
import type { RollbackInput, RollbackOutcome, RollbackResult } from '../../workflows/index.ts';
import type { Io } from '../command.ts';
import { withDeploymentNats } from '../deployment-connections.ts';
import { taskQueueOf } from '../task-queue.ts';

/** One rollback after the rollout ended (the first, or a retry), from the rollout's events. */
export interface RollbackAttempt {
  attempt: number;
  by: string;
  startedAt: string;
  state: 'running' | 'finished';
  devices: number;
  counts?: Record<RollbackOutcome, number>;
  finishedAt?: string;
}

/**
 * What `rollout status` says of the rollback after the rollout ended: the
 * latest attempt's fields, every attempt, and the devices not back yet (the
 * last attempt that asked them found them busy or failed): what `--retry` asks.
 */
export interface RollbackAfterEnd extends RollbackAttempt {
  attempts: RollbackAttempt[];
  notBack: string[];
}

/**
 * The rollback of a rollout that has ended (its Update is gone with it):
 * refused for a rollout the event log does not know (ROLLOUT_NOT_FOUND) or
 * one rolled back before, while it ran or after (ALREADY_ROLLED_BACK);
 * otherwise runs `rollback/<id>` and prints what each device did. With
 * `--retry`, after such a rollback, `rollback/<id>/<n>` asks again only the
 * devices it found busy or failed. Exit 0 when every device asked went back
 * or was left alone, 3 when some were busy or failed.
 */
export function rollBackEnded(
  values: Record<string, unknown>,
  client: Client,
  rolloutId: string,
  by: string,
  io: Io,
): Promise<number> {
  return withDeploymentNats(values, async (nc) => {
    const events = await new EventLog(nc).read('rollout', rolloutId);
    if (events.length === 0)
      throw new UprollError(
        'ROLLOUT_NOT_FOUND',
        `rollout ${rolloutId} does not exist (uproll rollout start creates it)`,
      );
    const before = rollbackAfterEndOf(events);
    const retry = values['retry'] === true;
    if (retry && !before)
      throw new UprollError(
        'INVALID_INPUT',
        `rollout ${rolloutId} was not rolled back after it ended: there is nothing to retry (leave out --retry)`,
      );
    // One that is running, or that failed (it may run again), is Temporal's to tell apart.
    if (!retry && before?.state === 'finished')
      throw new UprollError(
        'ALREADY_ROLLED_BACK',
        `rollout ${rolloutId} was rolled back after it ended, by ${before.attempts[0]?.by} at ${before.attempts[0]?.startedAt}: its devices left its revision then` +
          (before.notBack.length > 0
            ? `; devices not back yet (busy or failed): ${before.notBack.length}, which --retry asks again`
            : ''),
      );
    if (retry && before?.state === 'finished' && before.notBack.length === 0)
      throw new UprollError(
        'ALREADY_ROLLED_BACK',
        `every device of rollout ${rolloutId} is back on its previous revision or was left alone: nothing to retry`,
      );
    if (events.some(({ event }) => event.type === 'rollout.rolled_back'))
      throw new UprollError(
        'ALREADY_ROLLED_BACK',
        `rollout ${rolloutId} ended rolled back: its devices went back to their previous revision then`,
      );
    const input = retry && before ? retryOf(rolloutId, by, before) : { rolloutId, by };
    const result = await (await startRollback(client, input, { taskQueue: taskQueueOf(values) })).result();
    if (values.json) io.out(JSON.stringify(result));
    else printRollback(result, io);
    return result.counts.busy + result.counts.failed > 0 ? 3 : 0;
  });
}

/**
 * The next rollback attempt: after a finished one, a new attempt for the
 * devices not back yet. An unfinished one runs again under its own id:
 * Temporal refuses it while it runs, and runs again one that failed (the
 * first attempt over every device, as without --retry).
 */
function retryOf(rolloutId: string, by: string, before: RollbackAfterEnd): RollbackInput {
  const attempt = before.state === 'finished' ? before.attempt + 1 : before.attempt;
  return attempt === 1 ? { rolloutId, by } : { rolloutId, by, attempt, devices: before.notBack };
}

/** The rollback after the end among a rollout's events, with its retries, if there was one. */
export function rollbackAfterEndOf(events: readonly StoredEvent[]): RollbackAfterEnd | undefined {
  const attempts: RollbackAttempt[] = [];
  /** Each device's outcome in the last attempt that asked it. */
  const outcomes = new Map<string, string>();
  for (const { event } of events) {
    const data = event.data as Record<string, unknown>;
    const attempt = typeof data['attempt'] === 'number' ? data['attempt'] : 1;
    const index = attempts.findIndex((a) => a.attempt === attempt);
    if (event.type === 'rollout.rollback.started' && index === -1)
      attempts.push({
        attempt,
        by: String(data['by']),
        startedAt: event.at,
        state: 'running',
        devices: Number(data['devices']),
      });
    else if (event.type === 'rollout.rollback.device' && typeof data['deviceId'] === 'string')
      outcomes.set(data['deviceId'], String(data['outcome']));
    else if (event.type === 'rollout.rollback.finished' && index !== -1)
      attempts[index] = {
        ...attempts[index]!,
        state: 'finished',
        finishedAt: event.at,
        counts: data['counts'] as Record<RollbackOutcome, number>,
      };
  }
  const latest = attempts.at(-1);
  if (!latest) return undefined;
  const notBack = [...outcomes]
    .filter(([, outcome]) => outcome === 'busy' || outcome === 'failed')
    .map(([deviceId]) => deviceId)
    .sort();
  return { ...latest, attempts, notBack };
}

/** Its lines, for `rollout status`: one per attempt. */
export function rollbackLines(rollback: RollbackAfterEnd): string[] {
  return rollback.attempts.map((attempt) => {
    const counts = attempt.counts;
    const what = attempt.attempt === 1 ? 'rolled back after it ended' : `rollback retry ${attempt.attempt}`;
    return attempt.state === 'running' || !counts
      ? `  ${attempt.attempt === 1 ? 'rolling back' : `retrying the rollback (${attempt.attempt})`} since ${attempt.startedAt} (by ${attempt.by}): ${attempt.devices} devices`
      : `  ${what}, by ${attempt.by} at ${attempt.finishedAt}: ${countsText(counts)}`;
  });
}

function countsText(counts: Record<RollbackOutcome, number>): string {
  return `${counts.rolled_back} back on their previous revision, ${counts.unchanged} unchanged, ${counts.busy} busy, ${counts.failed} failed`;
}

function printRollback(result: RollbackResult, io: Io): void {
  const retry = result.attempt > 1 ? ` (retry ${result.attempt})` : '';
  io.out(`rollout ${result.rolloutId} rolled back by ${result.by}${retry}: ${countsText(result.counts)}`);
  for (const device of result.devices) {
    const runs = device.runs === undefined ? '' : ` (runs ${device.runs ?? 'nothing'})`;
    const reason = device.reason ? `: ${device.reason.code}: ${device.reason.message}` : '';
    io.out(`  ${device.deviceId}  ${device.outcome}  from ${device.from}${runs}${reason}`);
  }
  if (result.unlisted)
    io.out(`  and ${result.unlisted} more, each a rollout.rollback.device event on the log`);
}
