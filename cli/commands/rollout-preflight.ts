import { UprollError, type RolloutTarget } from '../../core/index.ts';
import { DirectorRepository, plannedDevices, requireReleased } from '../../services/director/index.ts';
import { ImageRepository } from '../../services/image-repo/index.ts';
import { EventLog } from '../../services/nats/index.ts';
import { directorDir, imageRepoDir } from '../locations.ts';
import { withDeploymentNats } from '../deployment-connections.ts';

/**
 * The devices a rollout target names now, sorted, from the Director the
 * options name: `plan` shows and `start` checks the same list.
 */
export function rolloutDevices(values: Record<string, unknown>, target: RolloutTarget): Promise<string[]> {
  const hint = typeof values['director'] === 'string' ? '' : ' (--director names another Director)';
  return plannedDevices(new DirectorRepository(directorDir(values)), target, hint);
}

/** Refuses a revision the Image repository the options name has not released (TARGET_NOT_FOUND). */
export function requireReleasedRevision(values: Record<string, unknown>, revision: string): Promise<void> {
  return requireReleased(new ImageRepository(imageRepoDir(values)), revision, ' (--repo names another)');
}

/**
 * Refuses a rollout id that has events on the log (ROLLOUT_EXISTS): Temporal
 * rejects an id it still knows, the log remembers it after Temporal's retention has passed.
 */
export async function requireUnusedRolloutId(
  values: Record<string, unknown>,
  rolloutId: string,
): Promise<void> {
  if (await withDeploymentNats(values, (nc) => new EventLog(nc).hasEvents('rollout', rolloutId)))
    throw new UprollError(
      'ROLLOUT_EXISTS',
      `rollout ${rolloutId} was started before (it is on the event log): choose another id`,
    );
}
