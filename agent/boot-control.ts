import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { parseJson } from '../core/index.ts';
import { writeFileAtomic } from '../adapters/fs/index.ts';
import { PRIVATE } from './data-dir.ts';

/** A revision placed by an installer: what it is, where it is, and the target that vouched for it. */
export const deploymentSchema = z.object({
  revision: z.string().min(1).max(128),
  rolloutId: z.string().min(1).max(128),
  /** The installer's name for it: `a`/`b` for A/B slots, the commit checksum for OSTree. */
  deployment: z.string().min(1).max(128),
  releaseCounter: z.int().min(0),
  /** The revision document's Image repository target, as the device reports it to the Director. */
  target: z.object({
    path: z.string().max(1024),
    length: z.int().min(0),
    hashes: z.record(z.string().max(16), z.string().max(128)),
  }),
});
export type Deployment = z.infer<typeof deploymentSchema>;

const bootControlSchema = z.object({
  /** What the device runs; null on a factory-fresh device. */
  active: deploymentSchema.nullable(),
  /** True while `active` is on trial: not yet committed by a passing health check. */
  trial: z.boolean(),
  /** Starts of the agent during the current trial; past the limit the trial has failed. */
  bootAttempts: z.int().min(0),
  /** What to return to if the trial fails (the last committed revision). */
  previous: deploymentSchema.nullable(),
});
export type BootControl = z.infer<typeof bootControlSchema>;

const FACTORY: BootControl = { active: null, trial: false, bootAttempts: 0, previous: null };
const MAX_BYTES = 64 * 1024;

/**
 * The boot-control file: which deployment the device runs, whether it is on
 * trial and how many starts the trial took. Every change is one atomic
 * rename, so after a crash the device runs either the old or the new
 * revision, never something in between. A copy of the last good file is
 * kept to recover from a damaged one.
 */
export class BootControlFile {
  readonly #dir: string;

  constructor(dataDir: string) {
    this.#dir = dataDir;
  }

  get path(): string {
    return join(this.#dir, 'boot-control.json');
  }

  get lastGoodPath(): string {
    return join(this.#dir, 'boot-control.last-good.json');
  }

  /**
   * The boot control. A damaged or missing file (storage fault, tampering)
   * is replaced by the last good copy, and `onDamage` is told; with both
   * damaged the device refuses to guess (INVALID_INPUT). Neither file: a
   * factory-fresh device.
   */
  async read(onDamage?: (problem: string) => void): Promise<BootControl> {
    const text = await readFile(this.path).catch(() => undefined);
    const copy = await readFile(this.lastGoodPath).catch(() => undefined);
    if (text === undefined && copy === undefined) return structuredClone(FACTORY);
    try {
      if (text === undefined) throw new Error(`${this.path} is missing`);
      return parseJson(bootControlSchema, text, { maxBytes: MAX_BYTES, what: this.path });
    } catch (damage) {
      if (copy === undefined) throw damage;
      const good = parseJson(bootControlSchema, copy, { maxBytes: MAX_BYTES, what: this.lastGoodPath });
      await writeFileAtomic(this.path, copy, PRIVATE);
      onDamage?.(
        `${(damage as Error).message}; restored the last good boot control (revision ${good.active?.revision ?? 'none'})`,
      );
      return good;
    }
  }

  /** Makes `deployment` active on trial; the one it replaces stays intact for a rollback. */
  async switchTo(deployment: Deployment): Promise<BootControl> {
    const control = await this.read();
    return this.#write({
      active: deployment,
      trial: true,
      bootAttempts: 0,
      previous: control.trial ? control.previous : control.active,
    });
  }

  /** At start, during a trial: counts one more boot attempt. Undefined when no trial runs. */
  async countBootAttemptIfOnTrial(): Promise<BootControl | undefined> {
    const control = await this.read();
    if (!control.trial) return undefined;
    return this.#write({ ...control, bootAttempts: control.bootAttempts + 1 });
  }

  /** The trial passed: the active deployment becomes the committed one. */
  async commit(): Promise<BootControl> {
    return this.#write({ ...(await this.read()), trial: false, bootAttempts: 0 });
  }

  /**
   * Goes back to the last committed deployment (none on a device whose very
   * first revision failed). The one left becomes `previous`.
   */
  async rollback(): Promise<BootControl> {
    const control = await this.read();
    return this.#write({ active: control.previous, trial: false, bootAttempts: 0, previous: control.active });
  }

  async #write(control: BootControl): Promise<BootControl> {
    await mkdir(this.#dir, { recursive: true });
    const text = `${JSON.stringify(control, null, 2)}\n`;
    await writeFileAtomic(this.path, text, PRIVATE);
    await writeFileAtomic(this.lastGoodPath, text, PRIVATE);
    return control;
  }
}
