import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The kernel version of test trees. */
export const TEST_KVER = '6.1.0-uproll';

/**
 * Writes a deployable OS tree into `dir` (replacing it): a kernel and
 * initramfs under usr/lib/modules, an os-release with ID, `usr/etc/motd`
 * saying `motd`, and `files` under usr/share/data (name -> bytes).
 */
export async function writeOsTree(
  dir: string,
  options: { motd: string; files?: Record<string, Uint8Array> },
): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  const modules = join(dir, 'usr', 'lib', 'modules', TEST_KVER);
  await mkdir(modules, { recursive: true });
  await mkdir(join(dir, 'usr', 'etc'), { recursive: true });
  await mkdir(join(dir, 'usr', 'share', 'data'), { recursive: true });
  await writeFile(join(modules, 'vmlinuz'), 'not a real kernel\n');
  await writeFile(join(modules, 'initramfs.img'), 'not a real initramfs\n');
  await writeFile(join(dir, 'usr', 'lib', 'os-release'), 'ID=uproll-test\nPRETTY_NAME="Uproll test OS"\n');
  await writeFile(join(dir, 'usr', 'etc', 'motd'), `${options.motd}\n`);
  for (const [name, bytes] of Object.entries(options.files ?? {}))
    await writeFile(join(dir, 'usr', 'share', 'data', name), bytes);
}

/** `count` files of `size` random bytes (random: compression cannot shrink them, so bytes pulled are honest). */
export function randomFiles(count: number, size: number): Record<string, Uint8Array> {
  return Object.fromEntries(Array.from({ length: count }, (_, i) => [`file-${i}.bin`, randomBytes(size)]));
}
