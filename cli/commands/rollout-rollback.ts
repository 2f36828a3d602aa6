import type { Client } from '@temporalio/client';
import { UprollError } from '../../core/index.ts';
import { EventLog, type StoredEvent } from '../../services/nats/index.ts';
import { startRollback } from '../../services/temporal/index.ts';
import type { RollbackOutcome, RollbackResult } from '../../workflows/index.ts';
import type { Io } from '../command.ts';
import { withServiceNats } from './events.ts';

/** What `rollout status` says of a rollback after the rollout ended, from the rollout's events. */
export interface RollbackAfterEnd {
  by: string;
  startedAt: string;
  state: 'running' | 'finished';
  devices: number;
  counts?: Record<RollbackOutcome, number>;
  finishedAt?: string;
}

/**
 * The rollback of a rollout that has ended (its Update is gone with it):
 * refused for a rollout the event log does not know (ROLLOUT_NOT_FOUND) or
 * one rolled back before, while it ran or after (ALREADY_ROLLED_BACK);
 * otherwise runs `rollback/<id>` and prints what each device did. Exit 0
 * when every device went back or was left alone, 3 when some were busy or failed.
 */
export function rollBackEnded(
  values: Record<string, unknown>,
  client: Client,
  rolloutId: string,
  by: string,
  io: Io,
): Promise<number> {
  return withServiceNats(values, async (nc) => {
    const events = await new EventLog(nc).read('rollout', rolloutId);
    if (events.length === 0)
      throw new UprollError(
        'ROLLOUT_NOT_FOUND',
        `rollout ${rolloutId} does not exist (uproll rollout start creates it)`,
      );
    const before = rollbackAfterEndOf(events);
    // One that is running, or that failed (it may run again), is Temporal's to tell apart.
    if (before?.state === 'finished')
      throw new UprollError(
        'ALREADY_ROLLED_BACK',
        `rollout ${rolloutId} was rolled back after it ended, by ${before.by} at ${before.startedAt}: its devices left its revision then`,
      );
    if (events.some(({ event }) => event.type === 'rollout.rolled_back'))
      throw new UprollError(
        'ALREADY_ROLLED_BACK',
        `rollout ${rolloutId} ended rolled back: its devices went back to their previous revision then`,
      );
    const result = await (await startRollback(client, { rolloutId, by })).result();
    if (values.json) io.out(JSON.stringify(result));
    else printRollback(result, io);
    return result.counts.busy + result.counts.failed > 0 ? 3 : 0;
  });
}

/** The rollback after the end among a rollout's events, if there was one. */
export function rollbackAfterEndOf(events: readonly StoredEvent[]): RollbackAfterEnd | undefined {
  let rollback: RollbackAfterEnd | undefined;
  for (const { event } of events) {
    const data = event.data as Record<string, unknown>;
    if (event.type === 'rollout.rollback.started')
      rollback = {
        by: String(data['by']),
        startedAt: event.at,
        state: 'running',
        devices: Number(data['devices']),
      };
    else if (event.type === 'rollout.rollback.finished' && rollback)
      rollback = {
        ...rollback,
        state: 'finished',
        finishedAt: event.at,
        counts: data['counts'] as Record<RollbackOutcome, number>,
      };
  }
  return rollback;
}

/** One line, for `rollout status`. */
export function rollbackLine(rollback: RollbackAfterEnd): string {
  const counts = rollback.counts;
  return rollback.state === 'running' || !counts
    ? `  rolling back since ${rollback.startedAt} (by ${rollback.by}): ${rollback.devices} devices`
    : `  rolled back after it ended, by ${rollback.by} at ${rollback.finishedAt}: ${countsText(counts)}`;
}

function countsText(counts: Record<RollbackOutcome, number>): string {
  return `${counts.rolled_back} back on their previous revision, ${counts.unchanged} unchanged, ${counts.busy} busy, ${counts.failed} failed`;
}

function printRollback(result: RollbackResult, io: Io): void {
  io.out(`rollout ${result.rolloutId} rolled back by ${result.by}: ${countsText(result.counts)}`);
  for (const device of result.devices) {
    const runs = device.runs === undefined ? '' : ` (runs ${device.runs ?? 'nothing'})`;
    const reason = device.reason ? `: ${device.reason.code}: ${device.reason.message}` : '';
    io.out(`  ${device.deviceId}  ${device.outcome}  from ${device.from}${runs}${reason}`);
  }
}
