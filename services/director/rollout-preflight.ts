import { revisionNameOf, revisionTargetPath, UprollError, type RolloutTarget } from '../../core/index.ts';
import type { ImageRepository } from '../image-repo/index.ts';
import { targetDevices } from './assign-revision.ts';
import type { DirectorRepository } from './director-repository.ts';

/** The revision names listed in a refusal, at most. */
const NAMES_SHOWN = 10;

/**
 * The devices a rollout target names now, sorted: what a plan shows and a
 * start checks. A target that names no device is refused (INVALID_INPUT,
 * saying which Director was asked; `hint` says how to ask another).
 */
export async function plannedDevices(
  director: DirectorRepository,
  target: RolloutTarget,
  hint = '',
): Promise<string[]> {
  const devices = (await targetDevices(director, target)).sort();
  if (devices.length > 0) return devices;
  const what =
    'hardwareId' in target
      ? `hardware id ${target.hardwareId}`
      : 'tag' in target
        ? `tag ${target.tag}`
        : 'the target';
  throw new UprollError(
    'INVALID_INPUT',
    `no device: ${what} names no device the Director at ${director.dir} knows${hint}`,
  );
}

/**
 * Refuses a revision the Image repository has not released (TARGET_NOT_FOUND,
 * listing what it did release), before anything is sent to a device.
 */
export async function requireReleased(image: ImageRepository, revision: string, hint = ''): Promise<void> {
  const released = await image.releasedTargets().catch((cause: unknown) => {
    throw new UprollError(
      'TARGET_NOT_FOUND',
      `cannot read the released targets of the Image repository at ${image.dir}${hint}`,
      {
        cause,
      },
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
    `the Image repository at ${image.dir} has not released revision ${JSON.stringify(revision)} (${listed})`,
  );
}
