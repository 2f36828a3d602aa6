import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { DeviceOutcome, OutcomeCounts, RolloutPolicy, RolloutPolicyInput } from '../core/index.ts';

export type RolloutStatus = 'running' | 'paused' | 'completed' | 'aborted' | 'rolled_back';

/** What `uproll rollout status` shows: waves, counts, and every device that did not commit. */
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
  failures: { deviceId: string; outcome: DeviceOutcome; reason: { code: string; message: string } }[];
}

/** The rollout's progress, as of now. */
export const rolloutProgressQuery = defineQuery<RolloutProgress>('rolloutProgress');

/** Each Update takes who asks (for the audit trail) and returns the progress after it. */
export const pauseRolloutUpdate = defineUpdate<RolloutProgress, [by: string]>('pauseRollout');
export const resumeRolloutUpdate = defineUpdate<RolloutProgress, [by: string]>('resumeRollout');
export const abortRolloutUpdate = defineUpdate<RolloutProgress, [by: string]>('abortRollout');
/** Abort, and return every device the rollout committed to its previous revision. */
export const rollbackRolloutUpdate = defineUpdate<RolloutProgress, [by: string]>('rollbackRollout');
export const changeRolloutPolicyUpdate = defineUpdate<
  RolloutProgress,
  [change: Partial<RolloutPolicyInput>, by: string]
>('changeRolloutPolicy');
