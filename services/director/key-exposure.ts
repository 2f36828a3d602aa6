import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ImageRepository } from '../image-repo/index.ts';
import type { DirectorRepository } from './director-repository.ts';

export interface KeyExposure {
  deviceId: string;
  /** The Image repository root version the device last reported trusting. */
  imageRoot: number | undefined;
  /** True when that root still lists the key, or the device never reported its roots. */
  trustsKey: boolean;
}

/**
 * After a revocation: which devices may still trust `keyId`, from their
 * last signed reports. A device trusts the key while the root version it
 * reports still names it in some role; a device that never reported is
 * counted as trusting it.
 */
export async function devicesTrustingKey(
  keyId: string,
  director: DirectorRepository,
  image: ImageRepository,
): Promise<KeyExposure[]> {
  const rootNames = new Map<number, boolean>();
  const names = async (version: number) => {
    if (!rootNames.has(version)) {
      const root = JSON.parse(await readFile(join(image.metadataDir, `${version}.root.json`), 'utf8')) as {
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
    const imageRoot = device.trustedRoots?.image;
    exposures.push({
      deviceId: device.deviceId,
      imageRoot,
      trustsKey: imageRoot === undefined ? true : await names(imageRoot),
    });
  }
  return exposures;
}
