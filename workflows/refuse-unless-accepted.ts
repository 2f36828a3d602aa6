import { ApplicationFailure } from '@temporalio/workflow';
import type { RolloutCommand } from '../core/index.ts';
import { UprollError } from '../core/models.ts';

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
