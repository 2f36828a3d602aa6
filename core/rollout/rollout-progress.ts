import type { DeviceOutcome, OutcomeCounts } from './outcomes.ts';
import type { RolloutPolicy } from './policy.ts';
import type { RolloutState, RolloutStatus } from './rollout-state.ts';
import type { ErrorInfo } from '../errors.ts';

/** What `uproll rollout status` shows: waves, counts, and the devices that did not commit (the first ones). */
export interface RolloutProgress {
  rolloutId: string;
  revision: string;
  status: RolloutStatus;
  policy: RolloutPolicy;
  waves: { index: number; size: number; state: 'pending' | 'running' | 'finished' }[];
  /**
   * `pending`: offline devices; `skipped`: devices not updated (busy with another rollout, or not
   * reached before an abort); `waitingForWindow`: devices of the running wave outside their maintenance window.
   */
  counts: OutcomeCounts & {
    pending: number;
    skipped: number;
    waitingForWindow: number;
    inFlight: number;
    total: number;
  };
  failures: { deviceId: string; outcome: DeviceOutcome; reason: ErrorInfo }[];
}

/** The progress of a rollout, with what only the running workflow knows: devices in flight and waiting. */
export function progressOf(
  ids: { rolloutId: string; revision: string },
  state: RolloutState,
  running: { inFlight: number; waitingForWindow: number },
): RolloutProgress {
  const { committed, rolledBack, failed, skipped } = state.counts;
  return {
    ...ids,
    status: state.status,
    policy: state.policy,
    waves: state.waves.map((size, index) => ({
      index,
      size,
      state:
        index < state.nextWave
          ? 'finished'
          : index === state.nextWave && running.inFlight > 0
            ? 'running'
            : 'pending',
    })),
    counts: {
      committed,
      rolledBack,
      failed,
      pending: state.pendingDevices().length,
      skipped,
      ...running,
      total: state.total,
    },
    failures: state.failures.map((failure) => ({ ...failure })),
  };
}

/** What `retry-failed` starts a new rollout over: the devices that failed, rolled back or were skipped. */
export function devicesToRetry(progress: RolloutProgress): string[] {
  return progress.failures
    .filter((f) => f.outcome === 'failed' || f.outcome === 'rolled_back' || f.outcome === 'skipped')
    .map((f) => f.deviceId);
}

/** The id of a retry of `rolloutId` started at `nowMs`, when the caller names none. */
export function retryRolloutId(rolloutId: string, nowMs: number): string {
  return `${rolloutId}-retry-${nowMs.toString(36)}`;
}

/**
 * How many devices of each wave have finished (committed, rolled back or
 * failed): all of a finished wave, none of a pending one, and of the running
 * one what the counts hold past the waves before it.
 */
export function finishedPerWave(progress: RolloutProgress): number[] {
  const { committed, rolledBack, failed } = progress.counts;
  let before = 0;
  return progress.waves.map((wave) => {
    const finished =
      wave.state === 'finished'
        ? wave.size
        : wave.state === 'running'
          ? Math.min(wave.size, Math.max(0, committed + rolledBack + failed - before))
          : 0;
    before += wave.size;
    return finished;
  });
}
