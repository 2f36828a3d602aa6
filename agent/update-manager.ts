import { join } from 'node:path';
import {
  isUprollError,
  TERMINAL_PHASES,
  UprollError,
  type CommandReply,
  type DevicePhase,
  type Slot,
  type Telemetry,
  type UpdateCommand,
} from '../core/index.ts';
import { AbSlots, type BootControl, type SlotContent } from './ab-slots.ts';
import { downloadArtifact } from './download.ts';
import { runHealthCheck, type HealthCheck } from './health-check.ts';

/** Starts of the agent a trial revision may take before the device gives up on it. */
export const MAX_BOOT_ATTEMPTS = 3;

export interface UpdateManagerOptions {
  deviceId: string;
  dataDir: string;
  /** Decides commit or rollback after the switch; without one every revision is healthy. */
  healthCheck?: HealthCheck;
  /** Receives each step of an update, in order. */
  report: (telemetry: Telemetry) => Promise<void>;
  now?: () => Date;
}

/**
 * The device's update manager: applies one update at a time to the inactive
 * A/B slot (download with exact length and sha256, atomic switch, health
 * check, commit or roll back) and reports every step. A repeated command for
 * an update it already runs or ran is acknowledged again and its last step
 * reported again, so a retried command never installs twice.
 */
export class UpdateManager {
  readonly slots: AbSlots;
  readonly #options: UpdateManagerOptions;
  readonly #lastReport = new Map<string, Telemetry>();
  #running: { rolloutId: string; done: Promise<void> } | undefined;

  constructor(options: UpdateManagerOptions) {
    this.#options = options;
    this.slots = new AbSlots(options.dataDir);
  }

  /** Accepts or refuses a command; an accepted update runs in the background. */
  accept(command: UpdateCommand): CommandReply {
    const last = this.#lastReport.get(command.rolloutId);
    if (this.#running?.rolloutId === command.rolloutId || last) {
      if (last) void this.#options.report(last).catch(() => {});
      return { accepted: true, duplicate: true };
    }
    if (this.#running) {
      return {
        accepted: false,
        error: { code: 'BUSY', message: `update of rollout ${this.#running.rolloutId} is still running` },
      };
    }
    const done = this.#apply(command)
      .catch((err: unknown) => this.#report(command, 'failed', { error: describe(err, 'INSTALL_FAILED') }))
      .catch(() => {}) // the reporter keeps its own retries; nothing is left to tell
      .finally(() => {
        this.#running = undefined;
      });
    this.#running = { rolloutId: command.rolloutId, done };
    return { accepted: true, duplicate: false };
  }

  /** The rollout of the update running now, if any. */
  get running(): string | undefined {
    return this.#running?.rolloutId;
  }

  /** The last report of every update this manager ran, oldest first. */
  history(): Telemetry[] {
    return [...this.#lastReport.values()];
  }

  /** Goes back to the previous slot on command (not while an update runs). */
  async rollbackNow(): Promise<BootControl> {
    if (this.#running) {
      throw new UprollError(
        'COMMAND_REJECTED',
        `update of rollout ${this.#running.rolloutId} is still running`,
      );
    }
    const control = await this.slots.read();
    if (control.previous === null || control.slots[control.previous] === null) {
      throw new UprollError('COMMAND_REJECTED', 'there is no previous revision to go back to');
    }
    return this.slots.rollback();
  }

  /** Resolves when the running update (if any) has finished. */
  async idle(): Promise<void> {
    await this.#running?.done;
  }

  async #apply(command: UpdateCommand): Promise<void> {
    const step = (phase: DevicePhase, extra: Partial<Telemetry> = {}) => this.#report(command, phase, extra);
    const { slot, dir } = await this.slots.prepareInactive();
    const artifactPath = join(dir, command.artifact.name);
    try {
      const { bytes } = await downloadArtifact(command.artifact, artifactPath);
      await step('downloaded', { bytes });
    } catch (err) {
      return step('failed', { error: describe(err, 'DOWNLOAD_FAILED') });
    }

    const content = {
      revision: command.revision,
      rolloutId: command.rolloutId,
      artifact: command.artifact.name,
    };
    await this.slots.switchTo(slot, content);
    await step('installed', { activeSlot: slot });
    await this.#decideTrial(slot, content);
  }

  /**
   * At start: a trial that was interrupted (crash, power cut) counts one
   * boot attempt. Past the limit the device rolls back by itself; below it
   * the health check decides again. Either way the outcome is reported.
   */
  async recover(onDamage?: (problem: string) => void): Promise<'no trial' | 'committed' | 'rolled_back'> {
    await this.slots.read(onDamage); // a damaged boot control is restored before anything else
    const control = await this.slots.countBootAttemptIfOnTrial();
    const content = control?.slots[control.active];
    if (!control || !content) return 'no trial';
    if (control.bootAttempts > MAX_BOOT_ATTEMPTS) {
      const back = await this.slots.rollback();
      await this.#report(content, 'rolled_back', {
        activeSlot: back.active,
        error: {
          code: 'BOOT_ATTEMPTS_EXCEEDED',
          message: `revision ${content.revision} did not survive ${MAX_BOOT_ATTEMPTS} starts on trial`,
        },
      });
      return 'rolled_back';
    }
    return this.#decideTrial(control.active, content);
  }

  /** The health check decides a trial: commit, or switch back. */
  async #decideTrial(slot: Slot, content: SlotContent): Promise<'committed' | 'rolled_back'> {
    const dir = this.slots.slotDir(slot);
    try {
      if (this.#options.healthCheck) {
        await runHealthCheck(this.#options.healthCheck, {
          UPROLL_SLOT: slot,
          UPROLL_SLOT_DIR: dir,
          UPROLL_ARTIFACT: join(dir, content.artifact),
          UPROLL_REVISION: content.revision,
        });
      }
    } catch (err) {
      const control = await this.slots.rollback();
      await this.#report(content, 'rolled_back', {
        activeSlot: control.active,
        error: describe(err, 'HEALTH_CHECK_FAILED'),
      });
      return 'rolled_back';
    }
    await this.slots.commit();
    await this.#report(content, 'committed', { activeSlot: slot });
    return 'committed';
  }

  async #report(
    command: Pick<UpdateCommand, 'rolloutId' | 'revision'>,
    phase: DevicePhase,
    extra: Partial<Telemetry>,
  ): Promise<void> {
    const telemetry: Telemetry = {
      deviceId: this.#options.deviceId,
      rolloutId: command.rolloutId,
      revision: command.revision,
      phase,
      at: (this.#options.now?.() ?? new Date()).toISOString(),
      ...extra,
    };
    this.#lastReport.set(command.rolloutId, telemetry);
    // Whoever hears the final report may act at once (roll back, send the next update).
    if (TERMINAL_PHASES.has(phase) && this.#running?.rolloutId === command.rolloutId)
      this.#running = undefined;
    await this.#options.report(telemetry);
  }
}

function describe(err: unknown, fallback: string): { code: string; message: string } {
  if (isUprollError(err)) return { code: err.code, message: err.message };
  return { code: fallback, message: err instanceof Error ? err.message : String(err) };
}
