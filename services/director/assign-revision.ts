import { revisionTargetPath, UprollError, type Clock, type RolloutTarget } from '../../core/index.ts';
import type { Signer } from '../../core/tuf/index.ts';
import { imageTargetCustomSchema } from '../../core/uptane/index.ts';
import type { ImageRepository } from '../image-repo/index.ts';
import { devicesTagged } from './device-tags.ts';
import type { DirectorRepository } from './director-repository.ts';

/**
 * Tells a device, through the Director, to install a state revision the
 * Image repository released: the Director's targets for the device's
 * primary ECU name the revision document with the length, hashes and
 * release counter the Image repository lists.
 */
export async function assignRevision(input: {
  director: DirectorRepository;
  image: ImageRepository;
  deviceId: string;
  revision: string;
  /** The rollout (device update) this assignment is for: the device's version report is matched to it. */
  rolloutId?: string;
  signers: { targets: readonly Signer[]; snapshot: readonly Signer[]; timestamp: readonly Signer[] };
  now: Date;
}): Promise<void> {
  const path = revisionTargetPath(input.revision);
  const released = (await input.image.releasedTargets())[path];
  if (!released)
    throw new UprollError(
      'TARGET_NOT_FOUND',
      `the Image repository has not released revision ${input.revision}`,
    );
  const { releaseCounter } = imageTargetCustomSchema.parse(released.custom);
  const [primary] = (await input.director.inventory(input.deviceId)).ecus;
  if (!primary) throw new UprollError('ECU_MISMATCH', `device ${input.deviceId} has no ECU`);
  await input.director.assign(
    input.deviceId,
    [{ ecuSerial: primary.serial, path, length: released.length, hashes: released.hashes, releaseCounter }],
    input.signers,
    input.now,
    input.rolloutId,
  );
}

/** The devices a rollout target names, from the Director's inventory. */
export async function targetDevices(director: DirectorRepository, target: RolloutTarget): Promise<string[]> {
  if ('devices' in target) {
    const unknown = await director.unknownAmong(target.devices);
    if (unknown.length > 0)
      throw new UprollError(
        'INVALID_INPUT',
        unknown.length === 1
          ? `device ${unknown[0]} is not registered with the Director`
          : `${unknown.length} devices are not registered with the Director, the first: ${unknown[0]}`,
      );
    // Named on purpose, so refused: leaving it out silently would hide that the list is stale.
    const revoked = await director.revokedAmong(target.devices);
    if (revoked.length > 0)
      throw new UprollError(
        'DEVICE_REVOKED',
        `${revoked.length === 1 ? `device ${revoked[0]} was` : `${revoked.length} devices were, the first ${revoked[0]},`} ` +
          'revoked (`uproll devices revoke`): leave it out, or give it a new identity with `devices provision --force`',
      );
    return [...target.devices];
  }
  const devices =
    'tag' in target
      ? await devicesTagged(director, target.tag)
      : (await director.devices())
          .filter((device) => device.ecus[0]?.hardwareId === target.hardwareId)
          .map((device) => device.deviceId);
  // A revoked device cannot connect: as a canary it would pass the gate with no signal at all.
  const revoked = new Set(await director.revokedAmong(devices));
  return devices.filter((deviceId) => !revoked.has(deviceId));
}

type AssignmentSigners = Parameters<typeof assignRevision>[0]['signers'];

/** What a rollout worker needs from the Director: assign revisions, resolve targets. */
export function directorReleases(input: {
  director: DirectorRepository;
  image: ImageRepository;
  /** The Director's online signers, or where to get them at each assignment (they may be rotated meanwhile). */
  signers: AssignmentSigners | (() => Promise<AssignmentSigners>);
  /** When each assignment is signed. */
  clock: Clock;
}) {
  const { signers, ...repositories } = input;
  return {
    assign: async (deviceId: string, revision: string, rolloutId?: string) =>
      assignRevision({
        ...repositories,
        signers: typeof signers === 'function' ? await signers() : signers,
        deviceId,
        revision,
        ...(rolloutId ? { rolloutId } : {}),
        now: input.clock(),
      }),
    devices: (target: RolloutTarget) => targetDevices(input.director, target),
  };
}
