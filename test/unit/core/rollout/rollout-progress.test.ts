import { describe, expect, it } from 'vitest';
import {
  devicesToRetry,
  finishedPerWave,
  retryRolloutId,
  rolloutPolicySchema,
  type RolloutProgress,
} from '../../../../core/index.ts';

function progress(over: Partial<RolloutProgress>): RolloutProgress {
  return {
    rolloutId: 'r1',
    revision: 'v2',
    status: 'running',
    policy: rolloutPolicySchema.parse({}),
    waves: [],
    counts: {
      committed: 0,
      rolledBack: 0,
      failed: 0,
      pending: 0,
      skipped: 0,
      waitingForWindow: 0,
      inFlight: 0,
      total: 0,
    },
    failures: [],
    ...over,
  };
}
const counts = (committed: number, rolledBack = 0, failed = 0) => ({
  ...progress({}).counts,
  committed,
  rolledBack,
  failed,
});

describe('the devices each wave has finished', () => {
  it('are all of a finished wave, none of a pending one, and of the running one what is past the waves before', () => {
    const shown = progress({
      waves: [
        { index: 0, size: 1, state: 'finished' },
        { index: 1, size: 4, state: 'running' },
        { index: 2, size: 5, state: 'pending' },
      ],
      counts: counts(2, 1, 1), // the canary and three of wave 1
    });
    expect(finishedPerWave(shown)).toEqual([1, 3, 0]);
  });

  it('never exceed the wave, nor go below nothing', () => {
    const waves = [
      { index: 0, size: 2, state: 'finished' as const },
      { index: 1, size: 2, state: 'running' as const },
    ];
    expect(finishedPerWave(progress({ waves, counts: counts(9) }))).toEqual([2, 2]);
    expect(finishedPerWave(progress({ waves, counts: counts(1) }))).toEqual([2, 0]);
  });
});

describe('the devices retry-failed retries', () => {
  it('are those that failed, rolled back or were skipped, not those still pending', () => {
    const reason = { code: 'X', message: 'x' };
    const shown = progress({
      failures: [
        { deviceId: 'a', outcome: 'failed', reason },
        { deviceId: 'b', outcome: 'rolled_back', reason },
        { deviceId: 'c', outcome: 'skipped', reason },
        { deviceId: 'd', outcome: 'pending', reason },
      ],
    });
    expect(devicesToRetry(shown)).toEqual(['a', 'b', 'c']);
  });

  it('go to a new rollout named after the first, unique by the time it starts', () => {
    expect(retryRolloutId('r1', 1_000)).toBe('r1-retry-rs');
    expect(retryRolloutId('r1', 1_001)).not.toBe(retryRolloutId('r1', 1_000));
  });
});
