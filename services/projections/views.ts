import type { ErrorInfo, OutcomeCounts, UpdatePhase } from '../../core/index.ts';

/**
 * Read models folded from the event log (DESIGN.md: "KV buckets for
 * projections, rebuildable by replaying the event log"). Every value carries
 * the stream sequence of the last event that changed it: an event at or below
 * it was applied already and is skipped, which makes applying idempotent.
 */

export const ROLLOUT_VIEW_STATUSES = ['running', 'paused', 'completed', 'aborted', 'rolled_back'] as const;
export type RolloutViewStatus = (typeof ROLLOUT_VIEW_STATUSES)[number];

/** One rollout's progress (bucket UPROLL_ROLLOUTS, key = rollout id). */
export interface RolloutView {
  rolloutId: string;
  status: RolloutViewStatus;
  revision?: string;
  startedBy?: string;
  startedAt?: string;
  /** Devices per wave as planned at the start (canary first), and waves of devices that joined later. */
  waves: number[];
  /** Index of the wave started last. */
  currentWave?: number;
  wavesFinished: number;
  /**
   * Devices by the outcome of their latest attempt in this rollout (retries
   * included), from device events. A rollback by command records no device
   * events, so only `reportedCounts` shows it.
   */
  counts: OutcomeCounts;
  /** The counts the rollout itself reported last (wave finished, completed, aborted). */
  reportedCounts?: OutcomeCounts;
  /** Devices the rollout did not update (busy with another rollout, or left when it was aborted), once it ended. */
  skipped?: number;
  lastGate?: { wave: number; passed: boolean; reason?: string };
  pausedBy?: string;
  pauseReason?: string;
  resumedBy?: string;
  abortedBy?: string;
  abortReason?: string;
  securityAlerts: { deviceId: string; code: string }[];
  policyChangedBy?: string;
  endedAt?: string;
  /** Who rolled the rollout back after it ended (workflows/rollback.ts), once it began; the latest retry's. */
  rolledBackBy?: string;
  /** When that rollback finished, and what its devices did (rolled_back, unchanged, busy, failed), retries included. */
  rolledBackAt?: string;
  rollbackCounts?: Record<string, number>;
  /** `at` of the last event applied. */
  updatedAt: string;
  lastSequence: number;
}

/** Phases of a device update as the log records them. */
export type DeviceUpdatePhase = 'started' | UpdatePhase;

/** One device's status (bucket UPROLL_DEVICES, key = device id). */
export interface DeviceView {
  deviceId: string;
  /** The rollout of the latest update (a retry counts for the rollout that retried it). */
  rolloutId?: string;
  workflowId?: string;
  /** The revision of the latest update. */
  revision?: string;
  phase?: DeviceUpdatePhase;
  /**
   * What the device runs unless an update is under way: the revision its last update
   * committed, or the one its latest accepted signed report shows, whichever came last
   * (a rollback by command, a local install).
   */
  committedRevision?: string;
  /** Set when the device was provisioned (`device.provisioned`), before any update. */
  hardwareId?: string;
  provisionedAt?: string;
  /** When its credentials were revoked (`devices revoke`), until it is provisioned again. */
  revokedAt?: string;
  /** Its tags (groups), as `uproll devices tag` last left them. */
  tags?: string[];
  deployment?: string;
  /** The error of the latest update, cleared when the next one starts. */
  error?: ErrorInfo;
  /** The Director's verdict on the device's latest signed report. */
  lastReport?: { accepted: boolean; at: string; counter?: number; error?: ErrorInfo };
  updatedAt: string;
  lastSequence: number;
}

/** The fleet's version distribution (bucket UPROLL_FLEET, key `distribution`). */
export interface FleetView {
  /** Revision -> devices whose last committed revision it is. */
  revisions: Record<string, number>;
  /** Devices that committed any revision. */
  devices: number;
  lastSequence: number;
}

/** All three projections as plain objects. */
export interface Projections {
  rollouts: Record<string, RolloutView>;
  devices: Record<string, DeviceView>;
  fleet: FleetView;
}

export function emptyFleet(): FleetView {
  return { revisions: {}, devices: 0, lastSequence: 0 };
}

export function emptyProjections(): Projections {
  return { rollouts: {}, devices: {}, fleet: emptyFleet() };
}
