import { copyFile, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tool } from './device-tools.ts';

/** The GRUB fragment the repository ships (device/boot/grub/uproll-ab.cfg). */
export const SHIPPED_GRUB_FRAGMENT = new URL('../../device/boot/grub/uproll-ab.cfg', import.meta.url);
const EMU_MODULES = '/usr/lib/grub/x86_64-emu';

/**
 * Boots real GRUB (grub-emu, userspace GRUB) once against a file-backed
 * disk holding `grubenv`: a grub.cfg that sources the shipped
 * uproll-ab.cfg, then prints the slot it chose and reboots (grub-emu
 * exits). The disk is an ext2 image made with `mkfs.ext2 -d`, and the
 * grubenv GRUB saved is copied back out of it, so the file stands for the
 * env block on a device's boot partition. Returns the slot GRUB booted.
 */
export async function bootGrubEmu(grubenv: string): Promise<'a' | 'b'> {
  const work = await mkdtemp(join(grubenv, '..', 'grub-emu-'));
  try {
    const modules = join(work, 'modules');
    await mkdir(modules);
    const names = await readdir(EMU_MODULES).catch(() => {
      throw new Error(
        `this test needs ${EMU_MODULES} (Debian package grub-emu): apt-get install -y grub-emu`,
      );
    });
    for (const name of names) await symlink(join(EMU_MODULES, name), join(modules, name));
    await copyFile(SHIPPED_GRUB_FRAGMENT, join(modules, 'uproll-ab.cfg'));
    await writeFile(
      join(modules, 'grub.cfg'),
      [
        'set uproll_grubenv=(hd0)/grubenv',
        'source "${prefix}/uproll-ab.cfg"',
        'echo "UPROLL-BOOT slot=${uproll_slot}"',
        'reboot',
        '',
      ].join('\n'),
    );
    const root = join(work, 'root');
    await mkdir(root);
    await copyFile(grubenv, join(root, 'grubenv'));
    const disk = join(work, 'disk.img');
    await tool('mkfs.ext2', ['-q', '-d', root, disk, '2M']);
    await writeFile(join(work, 'device.map'), `(hd0) ${disk}\n`);
    const { stdout } = await tool('grub-emu', ['-d', modules, '-m', join(work, 'device.map')]);
    const slot = /UPROLL-BOOT slot=([ab])\b/.exec(stdout)?.[1];
    if (slot !== 'a' && slot !== 'b')
      throw new Error(`grub-emu chose no slot; it printed: ${stdout.slice(-500)}`);
    await tool('debugfs', ['-R', `dump /grubenv ${grubenv}`, disk]);
    return slot;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
