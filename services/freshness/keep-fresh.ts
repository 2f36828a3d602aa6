import type { CurrentRoleSigners } from '../../keys/index.ts';
import { directorOnlineSigners, type DirectorRepository } from '../director/index.ts';
import type { ImageRepository } from '../image-repo/index.ts';

type Plan = { timestamp: boolean; snapshot: boolean };

export interface FreshnessReport {
  image: Plan;
  /** Director devices whose metadata was re-signed, with what was re-signed. */
  devices: Record<string, Plan>;
}

/** The online signers that keep both repositories fresh, as the key store has them now. */
export async function freshnessSigners(keys: CurrentRoleSigners) {
  return {
    image: { snapshot: await keys.of('image', 'snapshot'), timestamp: await keys.of('image', 'timestamp') },
    director: await directorOnlineSigners(keys),
  };
}

/**
 * One round of the freshness job: re-sign whatever of the Image repository
 * and of every device's Director metadata nears its expiry.
 */
export async function keepMetadataFresh(input: {
  image: ImageRepository;
  director: DirectorRepository;
  signers: Awaited<ReturnType<typeof freshnessSigners>>;
  now: Date;
}): Promise<FreshnessReport> {
  const image = await input.image.keepFresh(input.signers.image, input.now);
  const devices: Record<string, Plan> = {};
  for (const { deviceId } of await input.director.devices()) {
    const plan = await input.director.keepFresh(deviceId, input.signers.director, input.now);
    if (plan.timestamp) devices[deviceId] = plan;
  }
  return { image, devices };
}
