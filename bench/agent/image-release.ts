// How the benchmark's revisions carry the OS image, in one place: the image SWUpdate and
// RAUC write is the same bytes Uproll installs.
import { join } from 'node:path';
import { rootfsImage } from '../../test/helpers/ab-image-device.ts';
import type { SimulatedRepositories } from '../../sim/index.ts';
import { rawImageDevice, type BenchDevice } from './image-device.ts';

export interface ImageInstall {
  /** The agent's `--installer`. */
  installer: string;
  /** What it installs, said in the printed figures. */
  description: string;
  /** Publishes the small first revision `name` (what the idle figures run after); `dir` is scratch space. */
  publishFirst(repos: SimulatedRepositories, name: string, dir: string): Promise<unknown>;
  /** Publishes revision `name` that carries `image`. */
  publish(repos: SimulatedRepositories, name: string, image: Uint8Array): Promise<unknown>;
  /** The device the agent runs on, when it switches by rebooting (slots for `imageBytes`, a boot env). */
  device?(dir: string, imageBytes: number): Promise<BenchDevice>;
}

/** The image as one artifact of the A/B slot directories (no bootloader, no reboot). */
export const IMAGE_AS_ARTIFACT: ImageInstall = {
  installer: 'ab',
  description: 'the image as one artifact, A/B slot directories',
  publishFirst: (repos, name) =>
    repos.publish(name, [{ path: 'app/config.txt', bytes: Buffer.from(`revision ${name}\n`) }]),
  publish: (repos, name, image) => repos.publish(name, [{ path: 'rootfs.img', bytes: image }]),
};

/** The raw image A/B installer into file-backed slots, a real U-Boot environment, the reboot played. */
export const RAW_IMAGE_UBOOT: ImageInstall = {
  installer: 'image',
  description:
    'raw image installer, file-backed A/B slots, U-Boot env (fw_setenv); install = command to reboot',
  publishFirst: async (repos, name, dir) => {
    const image = await rootfsImage(dir, name, { 'etc/os-release': `ID=uproll-bench\nVERSION_ID=${name}\n` });
    return repos.publish(name, [{ path: 'rootfs.ext4', bytes: image, image: 'rootfs' }]);
  },
  publish: (repos, name, image) =>
    repos.publish(name, [{ path: 'rootfs.ext4', bytes: image, image: 'rootfs' }]),
  device: (dir, imageBytes) => rawImageDevice(join(dir, 'hw'), 'uboot', imageBytes),
};

/** The one line that says what the benchmark installs. */
export const IMAGE_INSTALL: ImageInstall = RAW_IMAGE_UBOOT;
