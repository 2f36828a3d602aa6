import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { finishedPerWave, UprollError, type RolloutProgress } from '../../core/index.ts';

/** A rollout's progress as the API shows it: each wave with its devices finished. */
export type ShownProgress = Omit<RolloutProgress, 'waves'> & {
  waves: (RolloutProgress['waves'][number] & { finished: number })[];
};

/**
 * Asks the rollout's workflow for its progress: `missing` when there is none
 * to ask, COMMAND_REJECTED when it refused.
 */
export async function askRollout(
  missing: UprollError,
  ask: () => Promise<RolloutProgress>,
): Promise<ShownProgress> {
  const progress = await ask().catch((err: unknown) => {
    if (err instanceof WorkflowUpdateFailedError)
      throw new UprollError('COMMAND_REJECTED', err.cause?.message ?? err.message);
    if (err instanceof WorkflowNotFoundError) throw missing;
    throw err;
  });
  const finished = finishedPerWave(progress);
  return {
    ...progress,
    waves: progress.waves.map((wave) => ({ ...wave, finished: finished[wave.index] ?? 0 })),
  };
}
