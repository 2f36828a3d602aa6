import type { Client } from '@temporalio/client';
import { EventLog } from '../../services/nats/index.ts';
import { nextRollback, type RollbackAfterEnd } from '../../services/projections/index.ts';
import { startRollback } from '../../services/temporal/index.ts';
import type { RollbackOutcome, RollbackResult } from '../../workflows/contracts.ts';
import type { Io } from '../command.ts';
import { withDeploymentNats } from '../deployment-connections.ts';
import { taskQueueOf } from '../task-queue.ts';

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
    const input = nextRollback(rolloutId, by, events, values['retry'] === true);
    const result = await (await startRollback(client, input, { taskQueue: taskQueueOf(values) })).result();
    if (values.json) io.out(JSON.stringify(result));
    else printRollback(result, io);
    return result.counts.busy + result.counts.failed > 0 ? 3 : 0;
  });
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
