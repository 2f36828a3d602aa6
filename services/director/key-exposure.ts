import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ImageRepository } from '../image-repo/index.ts';
import type { DirectorRepository } from './director-repository.ts';

export interface KeyExposure {
  deviceId: string;
  /** The repository whose root names (or named) the key. */
  repository: 'image' | 'director';
  /** The root version of that repository the device last reported trusting. */
  root: number | undefined;
  /** True when that root still lists the key, or the device never reported its roots. */
  trustsKey: boolean;
}

/**
 * After a revocation: which devices may still trust `keyId`, a key of the
 * Image repository or of the Director, from their last signed reports. A
 * device trusts the key while the root version it reports of that
 * repository still names it in some role; a device that never reported is
 * counted as trusting it.
 */
export async function devicesTrustingKey(
  keyId: string,
  director: DirectorRepository,
  image: ImageRepository,
  repository: KeyExposure['repository'] = 'image',
): Promise<KeyExposure[]> {
  const rootFile = (version: number) =>
    repository === 'image'
      ? readFile(join(image.metadataDir, `${version}.root.json`))
      : director.root(version);
  const rootNames = new Map<number, boolean>();
  const names = async (version: number) => {
    if (!rootNames.has(version)) {
      const root = JSON.parse(Buffer.from(await rootFile(version)).toString('utf8')) as {
        signed: { roles: Record<string, { keyids: string[] }> };
      };
      rootNames.set(
        version,
        Object.values(root.signed.roles).some((role) => role.keyids.includes(keyId)),
      );
    }
    return rootNames.get(version) ?? true;
  };
  const exposures: KeyExposure[] = [];
  for (const device of await director.devices()) {
    const root = device.trustedRoots?.[repository];
    exposures.push({
      deviceId: device.deviceId,
      repository,
      root,
      trustsKey: root === undefined ? true : await names(root),
    });
  }
  return exposures;
}
