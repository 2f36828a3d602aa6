import { ApplicationFailure, defineQuery, defineUpdate } from '@temporalio/workflow';
import type { RolloutCommand, RolloutPolicyInput, RolloutProgress } from '../core/index.ts';
import { UprollError } from '../core/errors.ts';

export type { RolloutProgress, RolloutStatus } from '../core/index.ts';

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

/**
 * The validator of each Update: refuses, before it is accepted, a command the
 * rollout's status does not allow, with the code (`INVALID_TRANSITION`,
 * `ALREADY_ROLLED_BACK`) as the failure's type.
 */
export function refuseUnlessAccepted(
  state: { assertAccepts(command: RolloutCommand): void },
  command: RolloutCommand,
): void {
  try {
    state.assertAccepts(command);
  } catch (err) {
    if (err instanceof UprollError) throw ApplicationFailure.nonRetryable(err.message, err.code);
    throw err;
  }
}
