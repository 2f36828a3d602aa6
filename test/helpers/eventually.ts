import { setTimeout as sleep } from 'node:timers/promises';

export interface EventuallyOptions {
  /** How long to keep asking (default 30 s: generous, for a loaded two-core machine). */
  timeoutMs?: number;
  /** Pause between two asks (default 100 ms). */
  intervalMs?: number;
}

type Found<T> = Exclude<T, false | undefined | null>;

/**
 * Asks `check` until it answers something other than `false`, `undefined` or
 * `null`, and returns that answer. A check that throws is asked again. After
 * `timeoutMs` it throws, naming what it waited for and the last answer or
 * error it saw: a wait never gives up silently, not even on a check that
 * never answers (a query to a server that went away).
 */
export async function eventually<T>(
  what: string,
  check: () => T | Promise<T>,
  { timeoutMs = 30_000, intervalMs = 100 }: EventuallyOptions = {},
): Promise<Found<T>> {
  const deadline = performance.now() + timeoutMs;
  let last: string;
  for (;;) {
    try {
      const answer = await answerBefore(deadline, check);
      if (answer !== false && answer !== undefined && answer !== null) return answer as Found<T>;
      last = `the last answer was ${String(answer)}`;
    } catch (err) {
      last = `the last check threw ${err instanceof Error ? err.message : String(err)}`;
    }
    if (performance.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${last}`);
    await sleep(intervalMs);
  }
}

const NO_ANSWER = Symbol('no answer');

/** What `check` answers, or a throw once `deadline` passes without an answer. */
async function answerBefore<T>(deadline: number, check: () => T | Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<typeof NO_ANSWER>((resolve) => {
    timer = setTimeout(() => resolve(NO_ANSWER), Math.max(0, deadline - performance.now()));
  });
  try {
    const answer = await Promise.race([check(), late]);
    if (answer === NO_ANSWER) throw new Error('the check did not answer in time');
    return answer;
  } finally {
    clearTimeout(timer);
  }
}
