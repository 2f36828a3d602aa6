// How the benchmark's large revision carries the OS image, in one place: the image
// SWUpdate writes is the same bytes Uproll installs.
import type { SimulatedRepositories } from '../../sim/index.ts';

export interface ImageInstall {
  /** The agent's `--installer`. */
  installer: string;
  /** What it installs, said in the printed figures. */
  description: string;
  /** Publishes revision `name` that carries `image`. */
  publish(repos: SimulatedRepositories, name: string, image: Uint8Array): Promise<unknown>;
}

/** Until the raw-image A/B installer lands: the image as one artifact of the A/B slot directories. */
export const IMAGE_AS_ARTIFACT: ImageInstall = {
  installer: 'ab',
  description: 'the image as one artifact, A/B slot directories',
  publish: (repos, name, image) => repos.publish(name, [{ path: 'rootfs.img', bytes: image }]),
};

/** The one line to change when the raw-image installer lands. */
export const IMAGE_INSTALL: ImageInstall = IMAGE_AS_ARTIFACT;
