import { UprollError } from '../../core/index.ts';
import type { StoredEvent } from '../nats/index.ts';
import type { RollbackInput, RollbackOutcome } from '../../workflows/contracts.ts';

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
 * The rollback after the rollout ended: the latest attempt's fields, every
 * attempt, and the devices not back yet (the last attempt that asked them
 * found them busy or failed): what a retry asks.
 */
export interface RollbackAfterEnd extends RollbackAttempt {
  attempts: RollbackAttempt[];
  notBack: string[];
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

/**
 * The rollback to start for a rollout that has ended, from its events, or
 * why there is none: ROLLOUT_NOT_FOUND for a rollout the log does not know,
 * ALREADY_ROLLED_BACK for one rolled back before (while it ran or after),
 * INVALID_INPUT for a retry with nothing before it. A retry after a finished
 * rollback asks only the devices it did not return; an unfinished one runs
 * again under its own id (Temporal refuses it while it runs, and runs again
 * one that failed).
 */
export function nextRollback(
  rolloutId: string,
  by: string,
  events: readonly StoredEvent[],
  retry: boolean,
): RollbackInput {
  if (events.length === 0)
    throw new UprollError(
      'ROLLOUT_NOT_FOUND',
      `rollout ${rolloutId} does not exist (uproll rollout start creates it)`,
    );
  const before = rollbackAfterEndOf(events);
  if (retry && !before)
    throw new UprollError(
      'INVALID_INPUT',
      `rollout ${rolloutId} was not rolled back after it ended: there is nothing to retry (leave out --retry)`,
    );
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
  if (!retry || !before) return { rolloutId, by };
  const attempt = before.state === 'finished' ? before.attempt + 1 : before.attempt;
  return attempt === 1 ? { rolloutId, by } : { rolloutId, by, attempt, devices: before.notBack };
}

/**
 * A rollout's progress as Temporal has it, with what its events say came
 * after: its rollback after the end, and `rolled_back` once that finished.
 */
export function withRollbackAfterEnd<Progress extends { status: string }>(
  progress: Progress,
  events: readonly StoredEvent[],
): Progress | (Omit<Progress, 'status'> & { status: 'rolled_back'; rollback: RollbackAfterEnd }) {
  const rollback = rollbackAfterEndOf(events);
  if (!rollback) return progress;
  return {
    ...progress,
    ...(rollback.state === 'finished' ? { status: 'rolled_back' as const } : {}),
    rollback,
  };
}
