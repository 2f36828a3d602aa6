import { TERMINAL_PHASES, type DevicePhase } from './phases.ts';
import type { Telemetry } from './telemetry.ts';

/** A phase of one device update as the server tracks it. */
export type UpdatePhase = 'commanded' | DevicePhase;

/**
 * What the server waits for next, each with its own time limit: the device
 * to accept the command, to download, to verify and install, to decide
 * (health check, commit or roll back), and, once it committed, the
 * Director to accept its signed version report showing the new revision.
 */
export type AwaitedStep = 'command' | 'download' | 'install' | 'verdict' | 'report';

const RANK: Record<UpdatePhase, number> = {
  commanded: 0,
  downloaded: 1,
  verified: 2,
  installed: 3,
  healthy: 4,
  committed: 5,
  rolled_back: 5,
  failed: 5,
};

/** The Director accepted a signed version report (manifest `counter`) showing `revision` installed. */
export interface VersionReport {
  revision: string;
  counter: number;
}

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
  #versionReport: VersionReport | undefined;

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
      case 'verified':
        return 'install';
      case 'installed':
      case 'healthy':
        return 'verdict';
      case 'committed':
        return this.#versionReport ? undefined : 'report';
      default:
        return undefined;
    }
  }

  /** The Director's accepted version report that shows the new revision, once it came. */
  get versionReport(): VersionReport | undefined {
    return this.#versionReport;
  }

  /**
   * Takes the Director's word that the device's signed version report shows
   * `revision` installed: with the device's own `committed`, the update is
   * done. Reports of another revision change nothing.
   */
  applyVersionReport(report: VersionReport, revision: string): boolean {
    if (report.revision !== revision || this.#versionReport) return false;
    this.#versionReport = report;
    return true;
  }

  /** The device accepted the command. */
  markCommanded(): void {
    if (this.#phases.length === 0) this.#phases.push({ phase: 'commanded' });
  }

  /**
   * Whether applying this report would pass over phases not seen yet (it
   * ranks more than one above the current phase): they may be on their way
   * out of order (two telemetry bridges), or the device skipped them. A
   * report that would change nothing skips nothing.
   */
  skipsPhases(report: Telemetry): boolean {
    if (report.deviceId !== this.deviceId || report.rolloutId !== this.rolloutId || this.isFinished)
      return false;
    return RANK[report.phase] > RANK[this.current?.phase ?? 'commanded'] + 1;
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
