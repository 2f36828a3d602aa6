import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { parseJson, slotSchema, type Slot } from '../core/index.ts';
import { writeFileAtomic } from '../services/fs/index.ts';

const slotContentSchema = z
  .object({ revision: z.string(), rolloutId: z.string(), artifact: z.string() })
  .nullable();

const bootControlSchema = z.object({
  /** The slot the device runs. */
  active: slotSchema,
  /** True while `active` is on trial: not yet committed by a passing health check. */
  trial: z.boolean(),
  /** Starts of the agent during the current trial; past the limit the trial has failed. */
  bootAttempts: z.int().min(0).default(0),
  /** The slot to return to if the trial fails. */
  previous: slotSchema.nullable(),
  slots: z.object({ a: slotContentSchema, b: slotContentSchema }),
});
export type BootControl = z.infer<typeof bootControlSchema>;
export type SlotContent = NonNullable<BootControl['slots']['a']>;

const FACTORY: BootControl = {
  active: 'a',
  trial: false,
  bootAttempts: 0,
  previous: null,
  slots: { a: null, b: null },
};

/**
 * Two slot directories and a boot-control file. Switching slots is one atomic
 * rename of the boot-control file, so after a crash the device runs either
 * the old or the new slot, never something in between.
 */
export class AbSlots {
  readonly #dir: string;

  constructor(dataDir: string) {
    this.#dir = dataDir;
  }

  get bootControlPath(): string {
    return join(this.#dir, 'boot-control.json');
  }

  slotDir(slot: Slot): string {
    return join(this.#dir, 'slots', slot);
  }

  /** A copy of the boot-control file as last written whole, to recover from a damaged one. */
  get lastGoodPath(): string {
    return join(this.#dir, 'boot-control.last-good.json');
  }

  /**
   * The boot control. A damaged file (storage fault, tampering) is replaced
   * by the last good copy, and `onDamage` is told; with both damaged the
   * device refuses to guess (INVALID_INPUT).
   */
  async read(onDamage?: (problem: string) => void): Promise<BootControl> {
    const text = await readFile(this.bootControlPath).catch(() => undefined);
    if (text === undefined) return structuredClone(FACTORY);
    try {
      return parseJson(bootControlSchema, text, { maxBytes: 64 * 1024, what: this.bootControlPath });
    } catch (damage) {
      const copy = await readFile(this.lastGoodPath).catch(() => undefined);
      if (copy === undefined) throw damage;
      const good = parseJson(bootControlSchema, copy, { maxBytes: 64 * 1024, what: this.lastGoodPath });
      await writeFileAtomic(this.bootControlPath, copy);
      onDamage?.(`${(damage as Error).message}; restored the last good boot control (slot ${good.active})`);
      return good;
    }
  }

  /** Empties the slot the device does not run and returns it, ready to be written. */
  async prepareInactive(): Promise<{ slot: Slot; dir: string }> {
    const control = await this.read();
    const slot: Slot = control.active === 'a' ? 'b' : 'a';
    const dir = this.slotDir(slot);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    return { slot, dir };
  }

  /** Makes `slot` active on trial; the slot it replaces stays intact for a rollback. */
  async switchTo(slot: Slot, content: SlotContent): Promise<BootControl> {
    const control = await this.read();
    const next: BootControl = {
      active: slot,
      trial: true,
      bootAttempts: 0,
      previous: control.active,
      slots: { ...control.slots, [slot]: content },
    };
    await this.#write(next);
    return next;
  }

  /** At start, during a trial: counts one more boot attempt. Undefined when no trial runs. */
  async countBootAttemptIfOnTrial(): Promise<BootControl | undefined> {
    const control = await this.read();
    if (!control.trial) return undefined;
    const next: BootControl = { ...control, bootAttempts: control.bootAttempts + 1 };
    await this.#write(next);
    return next;
  }

  /** The trial passed: the active slot becomes the committed one. */
  async commit(): Promise<BootControl> {
    const control = await this.read();
    const next: BootControl = { ...control, trial: false, bootAttempts: 0 };
    await this.#write(next);
    return next;
  }

  /** The trial failed: go back to the previous slot. */
  async rollback(): Promise<BootControl> {
    const control = await this.read();
    if (control.previous === null) throw new Error('there is no previous slot to roll back to');
    const next: BootControl = {
      ...control,
      active: control.previous,
      previous: control.active,
      trial: false,
      bootAttempts: 0,
    };
    await this.#write(next);
    return next;
  }

  async #write(control: BootControl): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
    const text = `${JSON.stringify(control, null, 2)}\n`;
    await writeFileAtomic(this.bootControlPath, text);
    await writeFileAtomic(this.lastGoodPath, text);
  }
}
