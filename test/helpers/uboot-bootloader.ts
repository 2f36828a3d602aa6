import { readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseEnvLines } from '../../agent/boot/run-tool.ts';
import { tool } from './device-tools.ts';

/** The default U-Boot environment the repository ships (device/boot/uboot/env.txt). */
export const SHIPPED_UBOOT_ENV = new URL('../../device/boot/uboot/env.txt', import.meta.url);
const ENV_SIZE = '0x4000';

/**
 * A redundant U-Boot environment in `dir` (two copies, `env0.bin` and
 * `env1.bin`, made by mkenvimage -r from the shipped default environment,
 * with slot devices of the test's own) and the fw_env.config naming them.
 */
export async function makeUBootEnv(dir: string, devices: { a: string; b: string }) {
  const defaults = (await readFile(SHIPPED_UBOOT_ENV, 'utf8'))
    .replace(/^uproll_root_a=.*$/m, `uproll_root_a=${devices.a}`)
    .replace(/^uproll_root_b=.*$/m, `uproll_root_b=${devices.b}`);
  await writeFile(join(dir, 'env.txt'), defaults);
  const copies = [join(dir, 'env0.bin'), join(dir, 'env1.bin')];
  for (const copy of copies)
    await tool('mkenvimage', ['-r', '-s', ENV_SIZE, '-o', copy, join(dir, 'env.txt')]);
  const config = join(dir, 'fw_env.config');
  await writeFile(config, copies.map((copy) => `${copy} 0 ${ENV_SIZE}\n`).join(''));
  return { config, copies };
}

export async function printUBootEnv(config: string): Promise<Map<string, string>> {
  return parseEnvLines((await tool('fw_printenv', ['-c', config])).stdout);
}

/**
 * Plays U-Boot for one boot, exactly as the shipped env.txt and boot.cmd
 * (device/boot/uboot/) make a real U-Boot with CONFIG_BOOTCOUNT_ENV behave:
 * 1. U-Boot's main loop: while upgrade_available=1, bootcount += 1 (saved);
 *    if then bootcount > bootlimit it runs altbootcmd instead of bootcmd;
 * 2. altbootcmd: uproll_slot flips to the other slot, upgrade_available=0,
 *    bootcount=0, saveenv;
 * 3. boot.cmd: uproll_slot is b or else a; the kernel gets
 *    `root=${uproll_root_<slot>} uproll.slot=<slot>`, written to `cmdline`.
 * The environment is changed through fw_setenv in one write. Returns the slot booted.
 */
export async function bootUBoot(config: string, cmdline: string): Promise<'a' | 'b'> {
  const env = await printUBootEnv(config);
  const changes: Record<string, string> = {};
  if (env.get('upgrade_available') === '1') {
    const count = Number(env.get('bootcount') ?? '0') + 1;
    changes['bootcount'] = String(count);
    if (count > Number(env.get('bootlimit') ?? '1')) {
      Object.assign(changes, {
        uproll_slot: env.get('uproll_slot') === 'a' ? 'b' : 'a',
        upgrade_available: '0',
        bootcount: '0',
      });
    }
  }
  if (Object.keys(changes).length > 0) {
    const script = Object.entries(changes)
      .map(([key, value]) => `${key}=${value}\n`)
      .join('');
    // A file, not /dev/stdin: Node gives a child a socket for stdin, which fw_setenv cannot read (and says nothing).
    const file = join(dirname(cmdline), '.uboot-saveenv');
    await writeFile(file, script);
    await tool('fw_setenv', ['-c', config, '-s', file]);
    await rm(file);
  }
  const slot = (changes['uproll_slot'] ?? env.get('uproll_slot')) === 'b' ? 'b' : 'a';
  await writeFile(
    cmdline,
    `console=ttyS0 root=${env.get(`uproll_root_${slot}`)} uproll.slot=${slot} rootwait ro\n`,
  );
  return slot;
}

/**
 * A torn write of the environment: the copy with the higher flags byte
 * (the newest) gets garbage over its data, so its CRC no longer matches.
 */
export async function tearNewestUBootCopy(copies: readonly string[]): Promise<string> {
  const flags = await Promise.all(copies.map(async (copy) => (await readFile(copy))[4] ?? 0));
  const newest = copies[flags[0]! >= flags[1]! ? 0 : 1]!;
  const bytes = await readFile(newest);
  bytes.fill(0xa5, 5, 64);
  await writeFile(newest, bytes);
  return newest;
}
