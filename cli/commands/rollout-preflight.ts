import { revisionNameOf, revisionTargetPath, UprollError, type RolloutTarget } from '../../core/index.ts';
import { DirectorRepository, targetDevices } from '../../services/director/index.ts';
import { ImageRepository } from '../../services/image-repo/index.ts';
import { EventLog } from '../../services/nats/index.ts';
import { directorDir, imageRepoDir } from '../locations.ts';
import { withDeploymentNats } from '../deployment-connections.ts';

/** The revision names listed in a refusal, at most. */
const NAMES_SHOWN = 10;

/**
 * The devices a rollout target names now, sorted, from the Director the
 * options name: `plan` shows and `start` checks the same list. A target that
 * names no device is refused (INVALID_INPUT saying which Director was asked).
 */
export async function rolloutDevices(
  values: Record<string, unknown>,
  target: RolloutTarget,
): Promise<string[]> {
  const dir = directorDir(values);
  const devices = (await targetDevices(new DirectorRepository(dir), target)).sort();
  if (devices.length === 0) {
    const what =
      'hardwareId' in target
        ? `hardware id ${target.hardwareId}`
        : 'tag' in target
          ? `tag ${target.tag}`
          : 'the target';
    const hint = typeof values['director'] === 'string' ? '' : ' (--director names another Director)';
    throw new UprollError(
      'INVALID_INPUT',
      `no device: ${what} names no device the Director at ${dir} knows${hint}`,
    );
  }
  return devices;
}

/**
 * Refuses a revision the Image repository the options name has not released
 * (TARGET_NOT_FOUND, listing what it did release), before anything is sent to a device.
 */
export async function requireReleasedRevision(
  values: Record<string, unknown>,
  revision: string,
): Promise<void> {
  const dir = imageRepoDir(values);
  const released = await new ImageRepository(dir).releasedTargets().catch((cause: unknown) => {
    throw new UprollError(
      'TARGET_NOT_FOUND',
      `cannot read the released targets of the Image repository at ${dir} (--repo names another)`,
      { cause },
    );
  });
  if (released[revisionTargetPath(revision)]) return;
  const names = Object.keys(released)
    .flatMap((path) => revisionNameOf(path) ?? [])
    .sort();
  const listed =
    names.length === 0
      ? 'it has released no revision'
      : `released: ${names.slice(0, NAMES_SHOWN).join(', ')}${names.length > NAMES_SHOWN ? ', ...' : ''}`;
  throw new UprollError(
    'TARGET_NOT_FOUND',
    `the Image repository at ${dir} has not released revision ${JSON.stringify(revision)} (${listed})`,
  );
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
