import { createHash } from 'node:crypto';
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  bootedSlotFromCmdline,
  GrubEnv,
  UBootEnv,
  type BootBackend,
  type Bootloader,
  type Slot,
} from '../../agent/index.ts';
import { tool } from './device-tools.ts';
import { bootGrubEmu } from './grub-emu.ts';
import { bootUBoot, makeUBootEnv } from './uboot-bootloader.ts';

export type BootloaderKind = 'uboot' | 'grub';

/**
 * A device with two file-backed A/B slots (`slotA.img`, `slotB.img`, a few
 * MB each) and a real boot environment in `dir`: a redundant U-Boot
 * environment (fw_setenv) or a grubenv (grub-editenv). `boot()` is one
 * power-on: the bootloader's step (U-Boot played as the shipped scripts
 * make it behave, or real GRUB under grub-emu) writes the kernel command
 * line the agent reads. `reboots` counts the reboots the agent asked for.
 */
export async function abImageDevice(dir: string, kind: BootloaderKind, options: { slotBytes?: number } = {}) {
  const slots: Record<Slot, string> = { a: join(dir, 'slotA.img'), b: join(dir, 'slotB.img') };
  for (const path of Object.values(slots))
    await tool('truncate', ['-s', String(options.slotBytes ?? 8 * 1024 * 1024), path]);
  const cmdline = join(dir, 'cmdline');
  let env: BootBackend;
  let boot: () => Promise<Slot>;
  const files: Record<string, string> = {};
  if (kind === 'uboot') {
    const { config, copies } = await makeUBootEnv(dir, slots);
    Object.assign(files, { config, env0: copies[0]!, env1: copies[1]! });
    env = new UBootEnv({ config });
    boot = () => bootUBoot(config, cmdline);
  } else {
    const grubenv = join(dir, 'grubenv');
    await tool('grub-editenv', [grubenv, 'create']);
    files['grubenv'] = grubenv;
    env = new GrubEnv({ file: grubenv });
    boot = async () => {
      const slot = await bootGrubEmu(grubenv);
      await writeFile(cmdline, `BOOT_IMAGE=/boot/vmlinuz root=${slots[slot]} uproll.slot=${slot} ro\n`);
      return slot;
    };
  }
  const reboots: string[] = [];
  const bootloader: Bootloader = {
    env,
    bootedSlot: () => bootedSlotFromCmdline({ path: cmdline, devices: slots }),
    reboot: () => {
      reboots.push(`reboot ${reboots.length + 1}`);
      return Promise.resolve();
    },
  };
  await boot(); // powered on
  return { slots, cmdline, env, bootloader, boot, reboots, files };
}

export type AbImageDevice = Awaited<ReturnType<typeof abImageDevice>>;

/** A small ext4 root filesystem image (mkfs.ext4 -d) holding `files`: not byte-reproducible, so hash the result. */
export async function rootfsImage(dir: string, name: string, files: Record<string, string>): Promise<Buffer> {
  const tree = join(dir, `${name}-tree`);
  await mkdir(join(tree, 'etc'), { recursive: true });
  for (const [path, text] of Object.entries(files)) await writeFile(join(tree, path), text);
  const image = join(dir, `${name}.ext4`);
  await tool('mkfs.ext4', ['-q', '-F', '-d', tree, image, '2M']);
  return readFile(image);
}

/** The sha256 of a slot's first `length` bytes: what the bootloader would read as the image. */
export async function slotSha256(path: string, length: number): Promise<string> {
  const file = await open(path, 'r');
  try {
    const bytes = Buffer.alloc(length);
    await file.read(bytes, 0, length, 0);
    return createHash('sha256').update(bytes).digest('hex');
  } finally {
    await file.close();
  }
}
