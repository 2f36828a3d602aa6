import { open } from 'node:fs/promises';
import { z } from 'zod';
import { parseValue, UprollError } from '../../core/index.ts';
import { isSlot, type BootBackend, type BootEnvState, type Slot } from './boot-backend.ts';
import { parseEnvLines, runBootTool } from './run-tool.ts';

export interface GrubEnvOptions {
  /** The grubenv file the bootloader's `load_env`/`save_env` use. */
  file: string;
  /** Boots of a trial slot before GRUB gives up on it (its `BOOT_x_LEFT`; default 1, at most 3). */
  trialBoots?: number;
  grubEditenv?: string;
}

/** What grub-editenv (and GRUB's save_env) need to find at the start of the block, and its size. */
const SIGNATURE = '# GRUB Environment Block\n';
const BLOCK_BYTES = 1024;

/** What a committed slot gets: the three tries the shipped grub.cfg counts down (and RAUC's default). */
const COMMITTED_BOOTS = 3;
const left = z.enum(['0', '1', '2', '3']).optional();
const envSchema = z.object({
  BOOT_ORDER: z
    .string()
    .regex(/^[AB]( [AB])?$/, 'must be "A B" or "B A"')
    .optional(),
  BOOT_A_LEFT: left,
  BOOT_B_LEFT: left,
  uproll_trial: z.enum(['', 'A', 'B']).optional(),
});

const bootname = (slot: Slot) => (slot === 'a' ? 'A' : 'B');
const slotOf = (name: string): Slot | undefined => {
  const slot = name.toLowerCase();
  return isSlot(slot) ? slot : undefined;
};

/**
 * GRUB with RAUC's boot-counting convention, so the grub.cfg that RAUC
 * documents works too: `BOOT_ORDER` ("A B": try A first) and `BOOT_A_LEFT`
 * / `BOOT_B_LEFT`, the tries each slot has left. GRUB boots the first slot
 * in the order with tries left and counts one down (`device/boot/grub/`);
 * a committed slot gets 3 again at every good start, a trial slot gets
 * `trialBoots`. GRUB has no arithmetic, so the counters are 0-3. The agent
 * adds `uproll_trial` (the armed slot, which GRUB ignores) to tell a trial
 * from a committed slot that already used some tries.
 *
 * Written with `grub-editenv FILE set k=v ...`: one call writes the whole
 * 1024-byte block once (in place: GRUB cannot write a renamed file).
 */
export class GrubEnv implements BootBackend {
  readonly kind = 'grub';
  readonly #options: GrubEnvOptions;

  constructor(options: GrubEnvOptions) {
    this.#options = options;
  }

  get where(): string {
    return `the grubenv ${this.#options.file}`;
  }

  get #trialBoots(): number {
    return this.#options.trialBoots ?? 1;
  }

  async read(): Promise<BootEnvState> {
    const env = await this.#vars();
    const order = (env.BOOT_ORDER ?? 'A B').split(' ');
    const tries = (name: string) => Number(env[`BOOT_${name}_LEFT` as 'BOOT_A_LEFT'] ?? COMMITTED_BOOTS);
    const nextName = order.find((name) => tries(name) > 0) ?? order[0] ?? 'A';
    const trial = env.uproll_trial ? env.uproll_trial : undefined;
    const notStarted = trial !== undefined && order[0] === trial && tries(trial) === this.#trialBoots;
    return { next: slotOf(nextName), trialNotStarted: notStarted ? slotOf(trial) : undefined };
  }

  async armTrial(slot: Slot): Promise<void> {
    const [trial, other] = [bootname(slot), bootname(slot === 'a' ? 'b' : 'a')];
    await this.#set({
      BOOT_ORDER: `${trial} ${other}`,
      [`BOOT_${trial}_LEFT`]: String(this.#trialBoots),
      [`BOOT_${other}_LEFT`]: String(COMMITTED_BOOTS),
      uproll_trial: trial,
    });
  }

  async commit(slot: Slot): Promise<void> {
    const [good, other] = [bootname(slot), bootname(slot === 'a' ? 'b' : 'a')];
    const wanted = {
      BOOT_ORDER: `${good} ${other}`,
      [`BOOT_${good}_LEFT`]: String(COMMITTED_BOOTS),
      [`BOOT_${other}_LEFT`]: String(COMMITTED_BOOTS),
      uproll_trial: '',
    };
    const env: Record<string, string | undefined> = await this.#vars();
    if (Object.entries(wanted).every(([key, value]) => (env[key] ?? '') === value)) return;
    await this.#set(wanted);
  }

  /**
   * GRUB keeps one copy, written in place: a torn write leaves a block
   * without its signature, or shorter than the 1024 bytes grub-editenv
   * always writes, and neither GRUB nor grub-editenv reads it. Such a
   * block is made anew, committed to the slot that booted (the kernel
   * command line's word, so nothing is guessed). A missing file is left
   * alone: grub-editenv reads it as empty, and a wrong path must not be
   * papered over with a new file GRUB never reads.
   */
  async repair(booted: Slot): Promise<string | undefined> {
    const damage = await this.#damage();
    if (damage === undefined) return undefined;
    await this.#editenv(['create'], 'recreating');
    await this.commit(booted);
    return `${this.where} was damaged (${damage}): recreated it to boot slot ${booted}, committed, no trial`;
  }

  async #damage(): Promise<string | undefined> {
    const file = await open(this.#options.file, 'r').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw new UprollError('BOOT_CONTROL_FAILED', `cannot open ${this.where}: ${err.message}`);
    });
    if (!file) return undefined;
    try {
      const head = Buffer.alloc(BLOCK_BYTES);
      const { bytesRead } = await file.read(head, 0, BLOCK_BYTES, 0);
      if (!head.subarray(0, bytesRead).toString('latin1').startsWith(SIGNATURE))
        return 'no GRUB environment block signature';
      if (bytesRead < BLOCK_BYTES) return `${bytesRead} bytes, not a whole ${BLOCK_BYTES}-byte block`;
      return undefined;
    } finally {
      await file.close();
    }
  }

  async #vars() {
    const text = await this.#editenv(['list'], 'reading');
    return parseValue(envSchema, Object.fromEntries(parseEnvLines(text)), this.where, 'BOOT_CONTROL_FAILED');
  }

  async #set(vars: Record<string, string>): Promise<void> {
    const assignments = Object.entries(vars).map(([key, value]) => `${key}=${value}`);
    await this.#editenv(['set', ...assignments], 'writing');
  }

  #editenv(args: readonly string[], doing: string): Promise<string> {
    return runBootTool(this.#options.grubEditenv ?? 'grub-editenv', [this.#options.file, ...args], {
      what: `${doing} ${this.where}`,
    });
  }
}
