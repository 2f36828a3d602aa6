import { readFile } from 'node:fs/promises';
import { UprollError } from '../../core/index.ts';
import { isSlot, type Slot } from './boot-backend.ts';

/** /proc/cmdline is at most a few KiB (COMMAND_LINE_SIZE); anything longer is not a command line. */
const MAX_CMDLINE_BYTES = 64 * 1024;

export interface CmdlineSource {
  /** The kernel command line to read (default /proc/cmdline; a file in tests). */
  path: string;
  /** Each slot's root device, to recognise `root=` when there is no `uproll.slot=` argument. */
  devices?: Partial<Record<Slot, string>>;
}

/**
 * Which slot the running system booted from, as the bootloader told the
 * kernel: `uproll.slot=a|b` on the command line (the shipped boot.cmd and
 * grub.cfg pass it), else the `root=` device matched against the slots'
 * devices. The agent's own record never answers this: after a fallback the
 * bootloader knows better.
 */
export async function bootedSlotFromCmdline({ path, devices = {} }: CmdlineSource): Promise<Slot> {
  const bytes = await readFile(path).catch((err: unknown) => {
    throw new UprollError(
      'BOOT_CONTROL_FAILED',
      `cannot read the kernel command line ${path}: ${(err as Error).message}`,
    );
  });
  if (bytes.byteLength > MAX_CMDLINE_BYTES)
    throw new UprollError('BOOT_CONTROL_FAILED', `${path} is longer than a kernel command line can be`);
  const args = bytes.toString('utf8').trim().split(/\s+/);
  const value = (key: string) => args.findLast((arg) => arg.startsWith(`${key}=`))?.slice(key.length + 1);
  const named = value('uproll.slot');
  if (named !== undefined) {
    if (!isSlot(named))
      throw new UprollError('BOOT_CONTROL_FAILED', `${path} names uproll.slot=${named}, not a or b`);
    return named;
  }
  const root = value('root');
  const byRoot = (Object.entries(devices) as [Slot, string][]).find(([, device]) => device === root)?.[0];
  if (byRoot) return byRoot;
  throw new UprollError(
    'BOOT_CONTROL_FAILED',
    `${path} has no uproll.slot= argument and its root=${root ?? ''} is neither slot's device`,
  );
}
