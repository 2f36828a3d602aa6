import { CurrentRoleSigners } from '../keys/index.ts';
import { DirectorRepository, directorOnlineSigners, directorReleases } from '../services/director/index.ts';
import { freshnessSigners, keepMetadataFresh } from '../services/freshness/index.ts';
import { ImageRepository } from '../services/image-repo/index.ts';
import { directorDir, imageRepoDir, openKeyStore } from './locations.ts';
import { systemClock } from './system-clock.ts';

/**
 * What the worker signs with the online keys: the metadata freshness job and
 * the Director's assignments. The keys are opened where they sign, as the
 * key store has them then: a rotation or revocation while the worker runs
 * takes effect at its next signature, without a restart.
 */
export async function workerKeyServices(values: Record<string, unknown>, passphrase: string) {
  const keys = new CurrentRoleSigners(openKeyStore(values, { onlineOnly: true }), passphrase);
  await freshnessSigners(keys); // a wrong passphrase or a missing key stops the worker now, not later
  const image = new ImageRepository(imageRepoDir(values));
  const director = new DirectorRepository(directorDir(values));
  return {
    director,
    keepMetadataFresh: async () =>
      keepMetadataFresh({ image, director, signers: await freshnessSigners(keys), now: systemClock() }),
    releases: directorReleases({
      director,
      image,
      signers: () => directorOnlineSigners(keys),
      clock: systemClock,
    }),
  };
}
