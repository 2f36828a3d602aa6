import {
  CancellationScope,
  isCancellation,
  proxyActivities,
  proxyLocalActivities,
  sleep,
} from '@temporalio/workflow';
import type * as activities from '../activities/index.ts';
import type { FollowedUpdate, UpdateEnd } from './contracts.ts';

/** An empty answer comes back after this long, and the run asks again. */
const WAIT_MS = 30_000;
/** Asking by polling: the pause after an answer with ends, doubled after each without, up to the longest. */
const FIRST_PAUSE_MS = 1_000;
const LONGEST_PAUSE_MS = 30_000;

const { awaitUpdateEnds } = proxyActivities<activities.UprollActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

// One visibility query, no waiting: the run's own timer paces the asking.
const { awaitUpdateEnds: updateEndsNow } = proxyLocalActivities<activities.UprollActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

/**
 * The ends of device updates this run follows without being their parent
 * (an earlier run started them, or, `byPolling`, this one did), learnt for
 * all of them at a time: a few history events per batch of ends, none per
 * update. Without `byPolling`, one activity waits for the next ends; with
 * it, a local activity asks and a timer paces the asking, so that once
 * {@link UpdateEnds.stop} returns, nothing can reach the run unasked (it
 * continues as new without racing an activity's or a child's end).
 */
export class UpdateEnds {
  private readonly waiting = new Map<string, { update: FollowedUpdate; ended: (end: UpdateEnd) => void }>();
  private readonly byPolling: boolean;
  private polling: Promise<void> | undefined;
  private pause: CancellationScope | undefined;
  private stopped = false;

  constructor(options: { byPolling?: boolean } = {}) {
    this.byPolling = options.byPolling ?? false;
  }

  wait(update: FollowedUpdate): Promise<UpdateEnd> {
    const ended = new Promise<UpdateEnd>((resolve) =>
      this.waiting.set(update.workflowId, { update, ended: resolve }),
    );
    this.polling ??= this.poll();
    return ended;
  }

  /** Stops asking, for good: the question under way is answered first, the pause cut short. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.pause?.cancel();
    await this.polling;
  }

  private async poll(): Promise<void> {
    await Promise.resolve(); // the callers registering in one loop go in the first batch
    try {
      let pauseMs = FIRST_PAUSE_MS / 2; // the first answer without ends: a pause of FIRST_PAUSE_MS
      while (this.waiting.size > 0 && !this.stopped) {
        const updates = [...this.waiting.values()].map(({ update }) => update);
        const ends = this.byPolling
          ? await updateEndsNow(updates, 0)
          : await awaitUpdateEnds(updates, WAIT_MS);
        for (const end of ends) {
          this.waiting.get(end.workflowId)?.ended(end);
          this.waiting.delete(end.workflowId);
        }
        if (!this.byPolling || this.waiting.size === 0 || this.stopped) continue;
        pauseMs = ends.length > 0 ? FIRST_PAUSE_MS : Math.min(2 * pauseMs, LONGEST_PAUSE_MS);
        await this.pauseFor(pauseMs);
      }
    } finally {
      this.polling = undefined; // a caller after this starts the asking again
    }
  }

  private async pauseFor(ms: number): Promise<void> {
    this.pause = new CancellationScope();
    try {
      await this.pause.run(() => sleep(ms));
    } catch (err) {
      if (!isCancellation(err)) throw err;
    } finally {
      this.pause = undefined;
    }
  }
}
