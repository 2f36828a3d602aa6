// A device whose agent installs raw images: file-backed A/B slots, a real boot environment,
// and the bootloader's step played as the tests play it (test/helpers/ab-image-device.ts).
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AgentConfigInput } from '../../agent/index.ts';
import { abImageDevice, type BootloaderKind } from '../../test/helpers/ab-image-device.ts';
import { sleep } from './proc-rss.ts';

const POLL_MS = 50;
const REBOOT_TIMEOUT_MS = 120_000;

export interface BenchDevice {
  /** Agent arguments naming the slots, the boot environment, the kernel command line and the reboot command. */
  args: string[];
  /** Resolves once the agent has asked for its `n`th reboot. */
  rebootAsked(n: number): Promise<void>;
  /** One power-on: the bootloader picks the slot and writes the kernel command line. */
  boot(): Promise<string>;
}

/** Slots a little larger than `imageBytes` (sparse files), with the env `kind` names, in `dir`. */
export async function rawImageDevice(
  dir: string,
  kind: BootloaderKind,
  imageBytes: number,
): Promise<BenchDevice> {
  await mkdir(dir, { recursive: true });
  const slotBytes = Math.ceil((imageBytes + 4 * 1024 * 1024) / 4096) * 4096;
  const hardware = await abImageDevice(dir, kind, { slotBytes });
  const reboots = join(dir, 'reboots');
  await writeFile(reboots, '');
  // The file is checked on its own before the flags: it names the installer its boot section needs.
  const config: AgentConfigInput = {
    installer: 'image',
    slots: hardware.slots,
    boot:
      kind === 'uboot'
        ? { backend: 'uboot', fwEnvConfig: hardware.files['config']! }
        : { backend: 'grub', grubenv: hardware.files['grubenv']! },
    bootedSlot: { source: 'cmdline', path: hardware.cmdline },
    rebootCommand: ['sh', '-c', `echo reboot >> ${reboots}`],
  };
  const configFile = join(dir, 'agent.json');
  await writeFile(configFile, JSON.stringify(config));
  const asked = async () => (await readFile(reboots, 'utf8')).split('\n').filter(Boolean).length;
  return {
    args: ['--config', configFile],
    async rebootAsked(n) {
      const deadline = Date.now() + REBOOT_TIMEOUT_MS;
      while ((await asked()) < n) {
        if (Date.now() > deadline) throw new Error(`the agent did not ask for reboot ${n} in time`);
        await sleep(POLL_MS);
      }
    },
    boot: () => hardware.boot(),
  };
}
