import {
  TERMINAL_PHASES,
  TRUST_ATTACK_CODES,
  type DevicePhase,
  type Telemetry,
  type UprollErrorCode,
} from '../core/index.ts';
import type { Signer } from '../core/tuf/index.ts';
import { primaryEcuOf, signPrimaryManifest, type DeviceIdentity } from '../core/uptane/index.ts';
import type { BootControlFile } from './boot-control.ts';
import type { ReportJournal } from './report-journal.ts';
import type { UpdateStep } from './update-steps.ts';
import type { UptaneClient } from './uptane-client.ts';

export interface UpdateReporterOptions {
  device: DeviceIdentity;
  /** Signs the device's version reports to the Director. */
  deviceKey: Signer;
  uptane: Pick<UptaneClient, 'trustedRoots'>;
  journal: ReportJournal;
  boot: BootControlFile;
  now(): Date;
  step(step: UpdateStep): void;
  /** Told once an update's outcome is journaled, before its manifest is signed. */
  onOutcome(rolloutId: string): void;
}

/**
 * Journals what the device tells the fleet: each phase of an update as
 * telemetry, and at its end a signed manifest for the Director. A report is
 * on disk before anyone hears of it.
 */
export class UpdateReporter {
  readonly #options: UpdateReporterOptions;

  constructor(options: UpdateReporterOptions) {
    this.#options = options;
  }

  /** Journals one phase (and, at the end of an update, a signed manifest for the Director). */
  async report(
    update: { rolloutId: string; revision: string },
    phase: DevicePhase,
    extra: Partial<Telemetry>,
  ): Promise<void> {
    const telemetry: Telemetry = {
      deviceId: this.#options.device.deviceId,
      rolloutId: update.rolloutId,
      revision: update.revision,
      phase,
      at: this.#options.now().toISOString(),
      ...extra,
    };
    await this.#options.journal.append('telemetry', () => telemetry);
    this.#options.step({
      step: phase === 'installed' ? 'switched' : phase,
      rolloutId: update.rolloutId,
      revision: update.revision,
      deployment: extra.deployment,
      ...(extra.bytes !== undefined ? { bytes: extra.bytes } : {}),
      error: extra.error,
    });
    if (TERMINAL_PHASES.has(phase)) {
      // Whoever hears the outcome may act at once (send the next update, roll back by command).
      this.#options.onOutcome(update.rolloutId);
      const code = extra.error?.code as UprollErrorCode | undefined;
      await this.#options.journal.append('manifest', (counter) =>
        this.#manifest(counter, code && TRUST_ATTACK_CODES.has(code) ? code : ''),
      );
    }
  }

  /** The device's signed manifest: what its primary ECU runs, attacks it saw, its trusted roots. */
  async #manifest(counter: number, attacksDetected: string) {
    const { device, deviceKey, uptane } = this.#options;
    const control = await this.#options.boot.read();
    const trustedRoots = await uptane.trustedRoots();
    return signPrimaryManifest(
      {
        deviceId: device.deviceId,
        primaryEcuSerial: primaryEcuOf(device).serial,
        installed: control.active?.target,
        attacksDetected,
        counter,
        time: this.#options.now().toISOString(),
        ...(trustedRoots ? { trustedRoots } : {}),
      },
      deviceKey,
    );
  }
}
