import { z } from 'zod';
import { parseValue } from '../../core/index.ts';
import { isSlot, type BootBackend, type BootEnvState, type Slot } from './boot-backend.ts';
import { parseEnvLines, runBootTool } from './run-tool.ts';

export interface GrubEnvOptions {
  /** The grubenv file the bootloader's `load_env`/`save_env` use. */
  file: string;
  /** Boots of a trial slot before GRUB gives up on it (its `BOOT_x_LEFT`; default 1, at most 3). */
  trialBoots?: number;
  grubEditenv?: string;
}

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

  async #vars() {
    const text = await runBootTool(
      this.#options.grubEditenv ?? 'grub-editenv',
      [this.#options.file, 'list'],
      {
        what: `reading ${this.where}`,
      },
    );
    return parseValue(envSchema, Object.fromEntries(parseEnvLines(text)), this.where, 'BOOT_CONTROL_FAILED');
  }

  async #set(vars: Record<string, string>): Promise<void> {
    const assignments = Object.entries(vars).map(([key, value]) => `${key}=${value}`);
    await runBootTool(
      this.#options.grubEditenv ?? 'grub-editenv',
      [this.#options.file, 'set', ...assignments],
      {
        what: `writing ${this.where}`,
      },
    );
  }
}
