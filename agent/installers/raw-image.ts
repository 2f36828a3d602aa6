import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { rootfsImageOf, UprollError, type StateRevision } from '../../core/index.ts';
import { TargetVerifier } from '../../core/tuf/index.ts';
import { fileChunks, syncFile } from '../../adapters/fs/index.ts';
import { isSlot, SLOTS, type Slot } from '../boot/index.ts';
import type { ObjectStore } from '../object-store.ts';
import type { FileWritten, Installer } from './installer.ts';
import { writeRevisionFiles } from './write-files.ts';

const READ_BACK_BYTES = 1024 * 1024;

export interface RawImageInstallerOptions {
  /** Each slot's block device (a file of a fixed size stands for one in tests). */
  slots: Record<Slot, string>;
}

/**
 * Raw A/B images: the revision's rootfs image (the artifact marked
 * `image: "rootfs"`) is written byte for byte into the slot the device does
 * not run — streamed from the object store through a verifier (exact length
 * and sha256), synced, then read back from the slot and hashed over its
 * length. The bootloader switches to it (a trial boot the update manager
 * arms), so this installer never activates anything itself. The revision's
 * other artifacts go into `<data>/image-slots/<slot>/`, where the health
 * check runs.
 */
export class RawImageInstaller implements Installer {
  readonly kind = 'image';
  readonly switchesByReboot = true;
  readonly #dir: string;
  readonly #slots: Record<Slot, string>;

  constructor(dataDir: string, options: RawImageInstallerOptions) {
    this.#dir = join(dataDir, 'image-slots');
    this.#slots = options.slots;
  }

  pathOf(slot: string): string {
    if (!isSlot(slot)) throw new UprollError('INVALID_INPUT', `no A/B slot ${JSON.stringify(slot)}`);
    return join(this.#dir, slot);
  }

  /** `keep` names the slot the device runs and the one it booted: the other one is written. */
  async stage(
    revision: StateRevision,
    objects: ObjectStore,
    keep: readonly string[],
    onFileWritten?: FileWritten,
  ): Promise<string> {
    const slot = SLOTS.find((candidate) => !keep.includes(candidate));
    if (!slot)
      throw new UprollError(
        'INSTALL_FAILED',
        'no inactive slot: the device runs one slot and booted the other',
      );
    const image = rootfsImageOf(revision);
    if (!image)
      throw new UprollError(
        'INSTALL_FAILED',
        `revision ${revision.name} has no artifact marked as a rootfs image; the raw image installer needs one`,
      );
    const device = this.#slots[slot];
    const capacity = await slotBytes(device);
    if (image.length > capacity)
      throw new UprollError(
        'INSTALL_FAILED',
        `the image ${image.path} is ${image.length} bytes, more than slot ${slot} (${device}) holds: ${capacity}`,
      );
    await writeImage(objects.pathOf(image.sha256), device, image);
    await readBack(device, image);
    await onFileWritten?.(image.path);
    const dir = this.pathOf(slot);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    const files = revision.artifacts.filter((artifact) => artifact !== image);
    await writeRevisionFiles({ ...revision, artifacts: files }, objects, dir, onFileWritten);
    return slot;
  }

  async activate(): Promise<void> {
    // The bootloader boots the slot; the update manager armed it in the boot environment.
  }

  async prune(): Promise<void> {
    // Both slots stay: the other one is the bootloader's fallback.
  }
}

/** Writes the object into the slot in place (a block device cannot be truncated or renamed), through a verifier. */
async function writeImage(
  object: string,
  device: string,
  image: { path: string; length: number; sha256: string },
) {
  const verifier = new TargetVerifier({ length: image.length, hashes: { sha256: image.sha256 } }, image.path);
  const slot = await open(device, 'r+');
  try {
    let position = 0;
    for await (const chunk of fileChunks(object)) {
      verifier.update(chunk);
      await slot.write(chunk, 0, chunk.byteLength, position);
      position += chunk.byteLength;
    }
    verifier.finish();
    await syncFile(slot);
  } finally {
    await slot.close();
  }
}

/** Hashes the first `length` bytes of the slot: what the bootloader will read is the image. */
async function readBack(device: string, image: { path: string; length: number; sha256: string }) {
  const slot = await open(device, 'r');
  const hash = createHash('sha256');
  try {
    const buffer = Buffer.allocUnsafe(READ_BACK_BYTES);
    for (let position = 0; position < image.length;) {
      const { bytesRead } = await slot.read(
        buffer,
        0,
        Math.min(buffer.byteLength, image.length - position),
        position,
      );
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      position += bytesRead;
    }
  } finally {
    await slot.close();
  }
  const found = hash.digest('hex');
  if (found !== image.sha256)
    throw new UprollError(
      'INSTALL_FAILED',
      `slot ${device} does not read back as ${image.path}: sha256 ${found}, expected ${image.sha256}`,
    );
}

/** A slot's size: a regular file's length, or a block device's size from sysfs. */
async function slotBytes(device: string): Promise<number> {
  const info = await stat(device).catch((err: unknown) => {
    throw new UprollError('INSTALL_FAILED', `slot device ${device} is not there: ${(err as Error).message}`);
  });
  if (info.isFile()) return info.size;
  if (!info.isBlockDevice())
    throw new UprollError('INSTALL_FAILED', `slot device ${device} is neither a block device nor a file`);
  const major = Math.floor(info.rdev / 256) & 0xfff;
  const minor = (info.rdev & 0xff) | ((info.rdev >> 12) & 0xfff00);
  const sectors = await readFile(`/sys/dev/block/${major}:${minor}/size`, 'utf8');
  return Number(sectors.trim()) * 512;
}
