import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bootedSlotFromCmdline } from '../../../../agent/index.ts';

let dir: string;
let path: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'uproll-cmdline-'));
  path = join(dir, 'cmdline');
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const devices = { a: '/dev/mmcblk0p2', b: '/dev/mmcblk0p3' };

describe('the slot the system booted, from the kernel command line', () => {
  it('is the uproll.slot= argument when there is one, whatever root= says', async () => {
    await writeFile(path, 'console=ttyS0 root=/dev/mmcblk0p2 uproll.slot=b ro\n');
    expect(await bootedSlotFromCmdline({ path, devices })).toBe('b');
  });

  it('is the slot whose device root= names otherwise', async () => {
    await writeFile(path, 'console=ttyS0 root=/dev/mmcblk0p3 rootwait\n');
    expect(await bootedSlotFromCmdline({ path, devices })).toBe('b');
  });

  it.each([
    ['names a slot that does not exist', 'uproll.slot=c'],
    ['names neither slot device', 'root=/dev/sda1'],
    ['names nothing', 'quiet'],
  ])('is refused (BOOT_CONTROL_FAILED) when the command line %s', async (_what, line) => {
    await writeFile(path, line);
    await expect(bootedSlotFromCmdline({ path, devices })).rejects.toThrowWithCode('BOOT_CONTROL_FAILED');
  });

  it('is refused when the file is far longer than a command line', async () => {
    await writeFile(path, 'x'.repeat(100_000));
    await expect(bootedSlotFromCmdline({ path, devices })).rejects.toThrowWithCode('BOOT_CONTROL_FAILED');
  });
});
