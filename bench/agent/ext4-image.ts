// The OS image both updaters install: a raw ext4 file system, mostly random data.
import { spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const MB = 1024 * 1024;
/** Share of the file system filled with random file data; the rest is metadata, journal and free space. */
const FILL = 0.8;
const CHUNK = 16 * MB;

export interface OsImage {
  bytes: Buffer;
  /** What it is, for the printed figures. */
  description: string;
}

/** An ext4 image of `sizeMb` MiB made by mkfs.ext4 -d (e2fsprogs); random bytes if mkfs.ext4 is missing. */
export async function makeOsImage(dir: string, sizeMb: number): Promise<OsImage> {
  const content = join(dir, 'rootfs-content');
  const image = join(dir, 'rootfs.ext4');
  await mkdir(content, { recursive: true });
  try {
    // Files of at most 16 MiB, random (no two blocks alike, nothing compresses).
    let left = Math.floor(sizeMb * MB * FILL);
    for (let i = 0; left > 0; i++, left -= CHUNK)
      await writeFile(join(content, `blob-${i}`), randomFillSync(Buffer.allocUnsafe(Math.min(CHUNK, left))));
    const mkfs = spawnSync('mkfs.ext4', ['-q', '-F', '-b', '4096', '-d', content, image, `${sizeMb}M`], {
      encoding: 'utf8',
    });
    if (mkfs.status === 0)
      return { bytes: await readFile(image), description: `ext4 image, ${sizeMb} MiB (${FILL * 100}% data)` };
    const why = mkfs.error ? 'mkfs.ext4 not found (Debian: e2fsprogs)' : mkfs.stderr.trim();
    return {
      bytes: randomFillSync(Buffer.allocUnsafe(sizeMb * MB)),
      description: `${sizeMb} MiB of random bytes (no ext4 image: ${why})`,
    };
  } finally {
    await rm(content, { recursive: true, force: true });
    await rm(image, { force: true });
  }
}
