import { UprollError } from '../errors.ts';
import { parseValue } from '../parse.ts';
import {
  findTarget,
  refreshRepository,
  roleFetcher,
  type MetadataCache,
  type MetadataFetcher,
  type TrustedRepository,
} from '../tuf/index.ts';
import {
  directorTargetCustomSchema,
  directorTargetsCustomSchema,
  imageTargetCustomSchema,
  type DeviceIdentity,
} from './ecu.ts';

/** A target the device may install: both repositories agree on it for this ECU. */
export interface VerifiedImage {
  ecuSerial: string;
  hardwareId: string;
  path: string;
  length: number;
  hashes: Record<string, string>;
  releaseCounter: number;
  /** The Image repository role that vouches for it. */
  imageRole: string;
}

export interface RepositoryAccess {
  repository: TrustedRepository;
  fetch: MetadataFetcher;
  cache: MetadataCache;
}

export interface FullVerificationInput {
  director: RepositoryAccess;
  image: RepositoryAccess;
  device: DeviceIdentity;
  /** Release counter installed on each ECU, by serial. */
  installed: Readonly<Record<string, { releaseCounter: number }>>;
  /** The verification time (see `verificationTime`). */
  now: Date;
}

/**
 * Uptane full verification: refresh the Director, then the Image
 * repository, then match every Director target against the Image repository.
 * Resolves to what each ECU must install (empty when nothing); any failed
 * check rejects with the code of the attack it indicates.
 */
export async function fullVerification(input: FullVerificationInput): Promise<VerifiedImage[]> {
  const { director, image, now } = input;
  await refreshRepository(director.repository, director.fetch, director.cache, now);
  await refreshRepository(image.repository, image.fetch, image.cache, now);
  return matchDirectorAndImage({
    ...input,
    fetchImageRole: roleFetcher(image.repository, image.fetch),
    imageCache: image.cache,
  });
}

/**
 * Uptane 5.4.4.2 step by step, on repositories already refreshed: the
 * Director's targets must be for this device and its ECUs, and each must be
 * found in the Image repository through valid delegations, with equal length
 * and hashes, an allowed hardware id and no lower release counter.
 */
export async function matchDirectorAndImage(
  input: Omit<FullVerificationInput, 'director' | 'image'> & {
    director: Pick<RepositoryAccess, 'repository'>;
    image: Pick<RepositoryAccess, 'repository'>;
    fetchImageRole: Parameters<typeof findTarget>[2];
    /** Where the delegated Image roles that verify are kept (none by default). */
    imageCache?: MetadataCache;
  },
): Promise<VerifiedImage[]> {
  const { device, installed, now } = input;
  const director = input.director.repository;
  const targets = director.targets();
  if (!targets) throw new UprollError('OUT_OF_ORDER', 'the Director targets metadata is not verified yet');
  // Uptane: the Director never delegates.
  const delegations = targets.signed.delegations;
  if (delegations && (Object.keys(delegations.roles ?? {}).length > 0 || delegations.succinctRoles)) {
    throw new UprollError(
      'DELEGATION_NOT_ALLOWED',
      'the Director targets metadata delegates, which Uptane forbids',
    );
  }
  // The Director's targets (empty ones too) name the device they were made for.
  const custom = parseValue(
    directorTargetsCustomSchema,
    targets.signed.unrecognizedFields['custom'],
    'Director targets custom',
    'BAD_METADATA',
  );
  if (custom.deviceId !== device.deviceId) {
    throw new UprollError(
      'ECU_MISMATCH',
      `the Director targets were made for device ${custom.deviceId}, not ${device.deviceId}`,
    );
  }

  const ecus = new Map(device.ecus.map((ecu) => [ecu.serial, ecu]));
  const assigned = new Set<string>();
  const verified: VerifiedImage[] = [];
  for (const [path, target] of Object.entries(targets.signed.targets)) {
    const directorCustom = parseValue(
      directorTargetCustomSchema,
      target.custom,
      `Director target ${path} custom`,
      'BAD_METADATA',
    );
    for (const [serial, { hardwareId }] of Object.entries(directorCustom.ecuIdentifiers)) {
      const ecu = ecus.get(serial);
      if (!ecu)
        throw new UprollError(
          'ECU_MISMATCH',
          `the Director assigns ${path} to ECU ${serial}, which is not on this device`,
        );
      if (assigned.has(serial))
        throw new UprollError('ECU_MISMATCH', `the Director assigns more than one image to ECU ${serial}`);
      assigned.add(serial);
      if (hardwareId !== ecu.hardwareId) {
        throw new UprollError(
          'HARDWARE_MISMATCH',
          `the Director names hardware ${hardwareId} for ECU ${serial}, which is ${ecu.hardwareId}`,
        );
      }

      const found = await findTarget(
        input.image.repository,
        path,
        input.fetchImageRole,
        now,
        input.imageCache,
      );
      const imageTarget = found.target;
      if (imageTarget.length !== target.length) {
        throw new UprollError(
          'DIRECTOR_IMAGE_MISMATCH',
          `${path}: the Director lists ${target.length} bytes, the Image repository ${imageTarget.length}`,
        );
      }
      checkSameHashes(path, target.hashes, imageTarget.hashes);
      const imageCustom = parseValue(
        imageTargetCustomSchema,
        imageTarget.custom,
        `Image target ${path} custom`,
        'BAD_METADATA',
      );
      if (!imageCustom.hardwareIds.includes(ecu.hardwareId)) {
        throw new UprollError('HARDWARE_MISMATCH', `${path} is not built for hardware ${ecu.hardwareId}`);
      }
      if (
        directorCustom.releaseCounter !== undefined &&
        directorCustom.releaseCounter !== imageCustom.releaseCounter
      ) {
        throw new UprollError(
          'DIRECTOR_IMAGE_MISMATCH',
          `${path}: the Director lists release ${directorCustom.releaseCounter}, the Image repository ${imageCustom.releaseCounter}`,
        );
      }
      const current = installed[serial]?.releaseCounter ?? 0;
      if (imageCustom.releaseCounter < current) {
        throw new UprollError(
          'RELEASE_COUNTER_ROLLBACK',
          `${path} has release ${imageCustom.releaseCounter}, lower than the installed ${current}`,
        );
      }
      verified.push({
        ecuSerial: serial,
        hardwareId: ecu.hardwareId,
        path: found.path,
        length: imageTarget.length,
        hashes: imageTarget.hashes,
        releaseCounter: imageCustom.releaseCounter,
        imageRole: found.role,
      });
    }
  }
  return verified;
}

function checkSameHashes(
  path: string,
  director: Record<string, string>,
  image: Record<string, string>,
): void {
  const shared = Object.keys(director).filter((algorithm) => algorithm in image);
  if (shared.length === 0)
    throw new UprollError('DIRECTOR_IMAGE_MISMATCH', `${path}: the repositories list no hash in common`);
  for (const algorithm of shared) {
    if (director[algorithm]?.toLowerCase() !== image[algorithm]?.toLowerCase()) {
      throw new UprollError(
        'DIRECTOR_IMAGE_MISMATCH',
        `${path}: the repositories disagree on its ${algorithm}`,
      );
    }
  }
}
