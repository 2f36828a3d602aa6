import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { parseValue, UprollError } from '../../core/index.ts';
import type { BootBackend, BootEnvState, Slot } from './boot-backend.ts';
import { BootToolError, parseEnvLines, runBootTool } from './run-tool.ts';

/** fw_printenv's status when neither copy of a redundant environment has a good CRC. */
const BOTH_COPIES_BAD = 243;

export interface UBootEnvOptions {
  /** The fw_env.config naming the environment's two copies (`PATH OFFSET SIZE` lines): a redundant environment. */
  config: string;
  /** Boots of a trial slot before U-Boot gives up on it (written as `bootlimit`; default 1). */
  trialBoots?: number;
  fwPrintenv?: string;
  fwSetenv?: string;
}

/** The variables the agent reads; anything else in them is a damaged or foreign environment. */
const envSchema = z.object({
  uproll_slot: z.enum(['a', 'b']).optional(),
  upgrade_available: z.enum(['0', '1']).optional(),
  bootcount: z
    .string()
    .regex(/^\d{1,9}$/)
    .optional(),
});

/**
 * U-Boot's own boot counting (CONFIG_BOOTCOUNT_LIMIT with CONFIG_BOOTCOUNT_ENV):
 * while `upgrade_available=1`, U-Boot adds one to `bootcount` at each boot,
 * and once `bootcount` exceeds `bootlimit` it runs `altbootcmd` instead of
 * `bootcmd`. That is the bootloader's built-in counter, so a stock U-Boot
 * with bootcount enabled needs no counting script of its own; the slot is
 * the variable `uproll_slot` (`a`|`b`), and `device/boot/uboot/` has the
 * `altbootcmd` that flips it back and the `boot.cmd` that boots it.
 *
 * Read and written with libubootenv (`fw_printenv`/`fw_setenv -c CONFIG`)
 * on a redundant environment: each write goes to the older copy, so a torn
 * write leaves the previous environment readable. Several variables are
 * set in ONE write (`-s SCRIPT`, `key=value` lines). libubootenv 0.3.2
 * ignores what it cannot read with status 0 (`key value` lines, `-s -`,
 * `-s /dev/stdin` when stdin is a socket, which is what Node gives a child),
 * so the script is a private temp file and every write is read back.
 */
export class UBootEnv implements BootBackend {
  readonly kind = 'uboot';
  readonly #options: UBootEnvOptions;

  constructor(options: UBootEnvOptions) {
    this.#options = options;
  }

  get where(): string {
    return `the U-Boot environment of ${this.#options.config}`;
  }

  async read(): Promise<BootEnvState> {
    const env = await this.#vars();
    const next = env.uproll_slot;
    const armed = env.upgrade_available === '1';
    return { next, trialNotStarted: armed && Number(env.bootcount ?? '0') === 0 ? next : undefined };
  }

  async armTrial(slot: Slot): Promise<void> {
    await this.#write({
      uproll_slot: slot,
      upgrade_available: '1',
      bootcount: '0',
      bootlimit: String(this.#options.trialBoots ?? 1),
    });
  }

  async commit(slot: Slot): Promise<void> {
    const env = await this.#vars();
    if (env.uproll_slot === slot && env.upgrade_available !== '1') return;
    await this.#write({ uproll_slot: slot, upgrade_available: '0', bootcount: '0' });
  }

  /**
   * A torn write damages one copy only (each write goes to the older one),
   * and libubootenv reads the other: nothing to repair. Both copies bad is
   * not a torn write of ours, and U-Boot then boots its built-in default
   * environment, which holds the board's own variables (bootcmd, devices)
   * the agent cannot know: refused, with the fix in the message.
   */
  async repair(booted: Slot): Promise<undefined> {
    try {
      await this.#print();
      return undefined;
    } catch (err) {
      if (!(err instanceof BootToolError && err.exitStatus === BOTH_COPIES_BAD)) throw err;
      throw new UprollError(
        'BOOT_ENV_DAMAGED',
        `both copies of ${this.where} are damaged (fw_printenv exited ${BOTH_COPIES_BAD}). The agent does not ` +
          `recreate a U-Boot environment: write each copy again from the board's env.txt with ` +
          `uproll_slot=${booted} (the slot that booted), e.g. mkenvimage -r -s <size> -o <copy> env.txt, then restart the agent`,
        { cause: err },
      );
    }
  }

  async #vars() {
    // Print all: asking for one name prints `name=` with status 0 when it is missing.
    const text = await this.#print();
    return parseValue(envSchema, Object.fromEntries(parseEnvLines(text)), this.where, 'BOOT_CONTROL_FAILED');
  }

  async #write(vars: Record<string, string>): Promise<void> {
    const script = Object.entries(vars)
      .map(([key, value]) => `${key}=${value}\n`)
      .join('');
    const dir = await mkdtemp(join(tmpdir(), 'uproll-fw-setenv-'));
    try {
      await writeFile(join(dir, 'script'), script, { mode: 0o600 });
      await runBootTool(
        this.#options.fwSetenv ?? 'fw_setenv',
        ['-c', this.#options.config, '-s', join(dir, 'script')],
        {
          what: `writing ${this.where}`,
        },
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const text = await this.#print();
    const written = parseEnvLines(text);
    const lost = Object.entries(vars).filter(([key, value]) => written.get(key) !== value);
    if (lost.length > 0)
      throw new UprollError(
        'BOOT_CONTROL_FAILED',
        `writing ${this.where}: fw_setenv exited 0 but did not store ${lost.map(([key, value]) => `${key}=${value}`).join(' ')}`,
      );
  }

  #print(): Promise<string> {
    return runBootTool(this.#options.fwPrintenv ?? 'fw_printenv', ['-c', this.#options.config], {
      what: `reading ${this.where}`,
    });
  }
}
