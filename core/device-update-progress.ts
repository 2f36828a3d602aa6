import { TERMINAL_PHASES, type DevicePhase, type Telemetry } from './telemetry.ts';

/** A phase of one device update as the server tracks it. */
export type UpdatePhase = 'commanded' | DevicePhase;

/** What the server waits for next, each with its own time limit. */
export type AwaitedStep = 'command' | 'download' | 'install' | 'verdict';

const RANK: Record<UpdatePhase, number> = {
  commanded: 0,
  downloaded: 1,
  installed: 2,
  committed: 3,
  rolled_back: 3,
  failed: 3,
};

/** One phase reached, with the device's report when it came from the device. */
export interface PhaseRecord {
  phase: UpdatePhase;
  report?: Telemetry;
}

/**
 * The progress of one device update: a pure state machine that the workflow
 * feeds with the device's telemetry. Phases only move forward, so duplicate or
 * late telemetry (redelivery, a device resending after reconnect) is ignored.
 */
export class DeviceUpdateProgress {
  readonly deviceId: string;
  readonly rolloutId: string;
  readonly #phases: PhaseRecord[] = [];

  constructor(deviceId: string, rolloutId: string) {
    this.deviceId = deviceId;
    this.rolloutId = rolloutId;
  }

  /** Every phase reached so far, oldest first. */
  get phases(): readonly PhaseRecord[] {
    return this.#phases;
  }

  /** The latest phase, or undefined before the device was commanded. */
  get current(): PhaseRecord | undefined {
    return this.#phases.at(-1);
  }

  get isFinished(): boolean {
    const phase = this.current?.phase;
    return phase !== undefined && phase !== 'commanded' && TERMINAL_PHASES.has(phase);
  }

  /** What the update waits for now, which decides the time limit that applies. */
  get awaiting(): AwaitedStep | undefined {
    switch (this.current?.phase) {
      case undefined:
        return 'command';
      case 'commanded':
        return 'download';
      case 'downloaded':
        return 'install';
      case 'installed':
        return 'verdict';
      default:
        return undefined;
    }
  }

  /** The device accepted the command. */
  markCommanded(): void {
    if (this.#phases.length === 0) this.#phases.push({ phase: 'commanded' });
  }

  /**
   * Applies one telemetry report. Returns true when it moved the update
   * forward; reports of another device or rollout, or not past the current
   * phase, change nothing.
   */
  apply(report: Telemetry): boolean {
    if (report.deviceId !== this.deviceId || report.rolloutId !== this.rolloutId) return false;
    if (this.isFinished) return false;
    // Progress can be signalled before the command's reply is processed (for
    // example on a worker's replay): a device reporting progress accepted it.
    this.markCommanded();
    const current = this.current?.phase;
    if (current !== undefined && RANK[report.phase] <= RANK[current]) return false;
    this.#phases.push({ phase: report.phase, report });
    return true;
  }
}
