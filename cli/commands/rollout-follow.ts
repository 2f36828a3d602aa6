import type { NatsConnection } from '@nats-io/transport-node';
import { subjects } from '../../core/index.ts';
import type { StoredEvent } from '../../services/nats/index.ts';
import { auditLine, readEvents } from '../../services/projections/index.ts';
import type { RolloutHandle } from '../../services/temporal/index.ts';
import type { RolloutResult } from '../../workflows/contracts.ts';
import { rolloutProgressQuery, type RolloutProgress } from '../../workflows/contracts.ts';

/**
 * Exit codes of `rollout start --wait`, `rollout retry-failed --wait` and
 * `rollout watch` (1 and 2 stay a coded error and a bad command line).
 */
export const ROLLOUT_EXIT = {
  /** Completed: every device of the target had its turn. */
  completed: 0,
  /** Completed, but devices were skipped (busy with another rollout): `retry-failed` retries them. */
  skipped: 3,
  /** Paused (a gate, a security alert or a person): it waits for resume, abort or rollback. */
  paused: 4,
  /** Ended without completing: aborted, rolled back, or terminated. */
  ended: 5,
} as const;

export const ROLLOUT_EXIT_HELP =
  'Exit codes: 0 completed; 3 completed but devices were skipped (busy with another rollout);\n' +
  '4 paused (the reason is printed; resume, abort or rollback it); 5 aborted, rolled back or terminated.';

/** How a followed rollout stood when following it stopped. */
export interface FollowedEnd {
  exitCode: number;
  progress: RolloutProgress;
  /** Why it paused or ended, from its last `rollout.paused` or `rollout.aborted` event. */
  reason?: string;
  result?: RolloutResult;
}

/**
 * Prints every event of the rollout as it happens (its past first), until it
 * ends, or pauses: a paused rollout waits for a person, so following it
 * stops there too. `onEvent` prints an event (a line, JSON, bars). When
 * `readerGone` aborts (nobody reads the output any more), it stops there and
 * returns undefined: the rollout goes on without it.
 */
export async function followRollout(
  nc: NatsConnection,
  handle: RolloutHandle,
  rolloutId: string,
  onEvent: (stored: StoredEvent) => Promise<void> | void,
  readerGone?: AbortSignal,
): Promise<FollowedEnd | undefined> {
  const filter = subjects.events('rollout', rolloutId);
  const stop = new AbortController();
  const ended = handle.result().then(
    (result) => ({ result }),
    (error: unknown) => ({ error }),
  );
  void ended.finally(() => stop.abort());
  let reason: string | undefined;
  let lastSequence = 0;
  let pausedLast = false;
  const take = async (stored: StoredEvent) => {
    lastSequence = stored.sequence;
    reason = reasonOf(stored) ?? reason;
    if (stored.event.type === 'rollout.paused' || stored.event.type === 'rollout.resumed')
      pausedLast = stored.event.type === 'rollout.paused';
    await onEvent(stored);
  };
  const pausedNow = async () => (await handle.query(rolloutProgressQuery)).status === 'paused';

  // The past, then live. A pause is final only once its event is printed (the
  // status changes just before it is appended) and the rollout still is paused (it may have been resumed since).
  for await (const stored of readEvents(nc, { filter })) await take(stored);
  if (readerGone?.aborted) return undefined;
  let paused = pausedLast && !stop.signal.aborted && (await pausedNow());
  if (!paused)
    for await (const stored of readEvents(nc, {
      filter,
      fromSequence: lastSequence + 1,
      follow: readerGone ? AbortSignal.any([stop.signal, readerGone]) : stop.signal,
    })) {
      await take(stored);
      if (stored.event.type === 'rollout.paused' && (await pausedNow())) {
        paused = true;
        break;
      }
    }
  if (readerGone?.aborted) return undefined;
  const progress = await handle.query(rolloutProgressQuery);
  if (paused) return { exitCode: ROLLOUT_EXIT.paused, progress, ...(reason ? { reason } : {}) };
  // Ended: the events up to its last one are on the log; print what the live read had not reached.
  for await (const stored of readEvents(nc, { filter, fromSequence: lastSequence + 1 })) await take(stored);
  const outcome = await ended;
  if ('error' in outcome)
    return {
      exitCode: ROLLOUT_EXIT.ended,
      progress,
      reason: outcome.error instanceof Error ? outcome.error.message : String(outcome.error),
    };
  const { result } = outcome;
  const exitCode =
    result.status !== 'completed'
      ? ROLLOUT_EXIT.ended
      : result.skipped > 0
        ? ROLLOUT_EXIT.skipped
        : ROLLOUT_EXIT.completed;
  return { exitCode, progress, result, ...(reason && exitCode === ROLLOUT_EXIT.ended ? { reason } : {}) };
}

/** The last line of a followed rollout: how it stands and what a person may do. */
export function endLine(end: FollowedEnd): string {
  const id = end.progress.rolloutId;
  switch (end.exitCode) {
    case ROLLOUT_EXIT.paused:
      return `rollout ${id} is paused: ${end.reason ?? 'no reason given'}; resume, abort or rollback it`;
    case ROLLOUT_EXIT.skipped:
      return `rollout ${id} completed, but ${end.result?.skipped ?? '?'} devices were skipped (busy with another rollout): retry-failed retries them`;
    case ROLLOUT_EXIT.ended:
      return `rollout ${id} ended ${end.result?.status ?? 'without a result'}${end.reason ? `: ${end.reason}` : ''}`;
    default:
      return `rollout ${id} completed`;
  }
}

/** What `--json` prints at the end: the result, or the progress with the reason it paused. */
export function endJson(end: FollowedEnd): string {
  const { rolloutId, status, counts } = end.progress;
  return JSON.stringify(
    end.result
      ? { ...end.result, ...(end.reason ? { reason: end.reason } : {}) }
      : { rolloutId, status, counts, skipped: counts.skipped, ...(end.reason ? { reason: end.reason } : {}) },
  );
}

/** Who paused or aborted the rollout and why (the final `rollout.aborted`, with only counts, says neither). */
function reasonOf(stored: StoredEvent): string | undefined {
  const { type, data } = stored.event;
  if (type !== 'rollout.paused' && type !== 'rollout.aborted') return undefined;
  const told = typeof data === 'object' && data !== null && ('by' in data || 'reason' in data);
  return told ? auditLine(stored).summary : undefined; // one clean line: `by WHO: REASON`
}

/** One event as a line: when, what, and its details. */
export function eventLine(stored: StoredEvent): string {
  const line = auditLine(stored);
  return `${line.at}  ${line.type.padEnd(24)} ${line.summary}`.trimEnd();
}
