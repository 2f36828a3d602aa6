// The workflows' contract with everything outside them (services, activities,
// the CLI, tests): what each workflow takes and returns, and the messages it
// answers. It imports only core, so importing it never pulls a workflow in.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import {
  DEVICE_PROGRESS_SIGNAL,
  DEVICE_UPDATE_STATUS_QUERY,
  DEVICE_VERSION_REPORT_SIGNAL,
  type AwaitedStep,
} from '../core/models.ts';
import type {
  CarriedRollout,
  DeviceOutcome,
  ErrorInfo,
  OutcomeCounts,
  PhaseRecord,
  RolloutCommitsCursor,
  RolloutPolicy,
  RolloutPolicyInput,
  RolloutProgress,
  RolloutStatus,
  RolloutTarget,
  Telemetry,
  UpdateCommand,
  VersionReport,
} from '../core/index.ts';

export type { RolloutProgress, RolloutStatus } from '../core/index.ts';

// Messages

/** A device's telemetry reports, oldest first, validated by the telemetry bridge. */
export const deviceProgressSignal = defineSignal<[Telemetry[]]>(DEVICE_PROGRESS_SIGNAL);

/** The phases one device update has reached so far. */
export const deviceUpdateStatusQuery = defineQuery<readonly PhaseRecord[]>(DEVICE_UPDATE_STATUS_QUERY);

/** The Director accepted the device's signed version report showing this revision installed. */
export const deviceVersionReportSignal = defineSignal<[VersionReport]>(DEVICE_VERSION_REPORT_SIGNAL);

/** The rollout's progress, as of now. */
export const rolloutProgressQuery = defineQuery<RolloutProgress>('rolloutProgress');

/** Each Update takes who asks (for the audit trail) and returns the progress after it. */
export const pauseRolloutUpdate = defineUpdate<RolloutProgress, [by: string]>('pauseRollout');
export const resumeRolloutUpdate = defineUpdate<RolloutProgress, [by: string]>('resumeRollout');
export const abortRolloutUpdate = defineUpdate<RolloutProgress, [by: string]>('abortRollout');
/** Abort, and return every device the rollout committed to its previous revision. */
export const rollbackRolloutUpdate = defineUpdate<RolloutProgress, [by: string]>('rollbackRollout');
export const changeRolloutPolicyUpdate = defineUpdate<
  RolloutProgress,
  [change: Partial<RolloutPolicyInput>, by: string]
>('changeRolloutPolicy');

// Inputs and results

/** Input of {@link deviceUpdateWorkflow}. */
export interface DeviceUpdateInput {
  deviceId: string;
  command: UpdateCommand;
  /** The rollout this update belongs to (its events say so, retries included). */
  rollout?: string;
  /**
   * Have the Director assign the revision for this update first (default).
   * False when the caller assigned it already, with this update's rollout id.
   */
  assign?: boolean;
  /**
   * Hold the device for this rollout while it updates (a device is in one
   * rollout at a time); when another rollout holds it, end at once as `busy`.
   */
  holdFor?: string;
  /** Time limit of each step in milliseconds; defaults in {@link DEFAULT_PHASE_TIMEOUTS}. */
  phaseTimeouts?: Partial<Record<AwaitedStep, number>>;
}

export interface DeviceUpdateResult {
  /** `busy`: another rollout held the device, nothing was done (only with `holdFor`). */
  outcome: 'committed' | 'rolled_back' | 'busy';
  /** The counter of the signed version report that showed the revision committed. */
  reportCounter?: number;
  deviceId: string;
  rolloutId: string;
  revision: string;
  phases: string[];
  deployment?: string;
  reason?: ErrorInfo;
}

/** How a device update ended, as a later run of its rollout learns it. */
export type UpdateEnd =
  { workflowId: string; result: DeviceUpdateResult } | { workflowId: string; failure: ErrorInfo };

/** A device update a run follows to its end without being its parent. */
export interface FollowedUpdate {
  workflowId: string;
  runId: string;
}

/**
 * A device a run was updating when it continued as new, handed to the next
 * run: with `running`, its update `attempt` is a child that runs on (its
 * parent close policy lets it), else that attempt is still to start.
 */
export interface HandedOver {
  deviceId: string;
  position?: number;
  attempt: number;
  running?: FollowedUpdate;
}

/**
 * `rolled_back`: back on the revision before; `unchanged`: the device no longer runs what
 * the rollout put there (it moved on, or went back by itself), so it was left alone;
 * `busy`: another rollout holds it; `failed`: the command failed.
 */
export type RollbackOutcome = 'rolled_back' | 'unchanged' | 'busy' | 'failed';

export interface RollbackDeviceResult {
  deviceId: string;
  outcome: RollbackOutcome;
  /** The revision the rollout had committed. */
  from: string;
  /** The revision the device had committed before, by the event log. */
  previous?: string;
  /** What the device runs now, by its answer (null: nothing); absent when it was not asked. */
  runs?: string | null;
  reason?: ErrorInfo;
}

/** What a rollback that continues as new hands its next run: counts, where to go on, a bounded list. */
export interface RollbackCarried {
  /** The first commit this run has not asked about; the ones before it all have an outcome. */
  cursor: RolloutCommitsCursor;
  counts: Record<RollbackOutcome, number>;
  listed: RollbackDeviceResult[];
  unlisted: number;
}

export interface RollbackInput {
  rolloutId: string;
  /** Who asked, for the audit trail. */
  by: string;
  /** 1 (absent) for the first rollback; 2, 3, ... for each retry (`rollback/<rolloutId>/<attempt>`). */
  attempt?: number;
  /** A retry asks only these devices (those the rollbacks before could not reach); absent: every one. */
  devices?: string[];
  /** What the runs before did, when the rollback continued as new. */
  carried?: RollbackCarried;
  /** Events past which a run continues as new though Temporal did not suggest it. */
  historyLimit?: number;
}

export interface RollbackResult {
  rolloutId: string;
  by: string;
  /** Which rollback of the rollout this was: 1, then 2, 3, ... for retries. */
  attempt: number;
  counts: Record<RollbackOutcome, number>;
  /** Each device's result; a rollback in pages lists at most 100, those not rolled back first. */
  devices: RollbackDeviceResult[];
  /** Devices with an outcome that `devices` leaves out (their events on the log say each one). */
  unlisted?: number;
}

export interface RolloutInput {
  rolloutId: string;
  revision: string;
  /** After continue-as-new a list of devices is `[]`: the rollout's stored target holds it. */
  target: RolloutTarget;
  policy?: RolloutPolicyInput;
  startedBy?: string;
  /**
   * Continue as new past this many history events, if Temporal does not suggest it sooner
   * (default 8,000): tests set it low to make a small rollout cross runs inside a wave.
   */
  historyLimit?: number;
  /** Carried over by continue-as-new; absent at the start. */
  carried?: CarriedRun | LegacyCarried;
}

export interface RolloutResult {
  rolloutId: string;
  status: RolloutStatus;
  counts: OutcomeCounts;
  /** Devices the rollout did not update: busy with another rollout, or not reached before an abort. */
  skipped: number;
}

/** What a run hands the next one: the compact state, and (once, from runs before paging) the plan. */
export interface CarriedRun {
  format: 2;
  state: CarriedRollout;
  /** The planned devices in wave order, from a run that held them in memory: stored once by the next run. */
  plan?: string[];
  /** Updates of the running wave that were in flight, for this run to follow to their end. */
  inFlight?: HandedOver[];
}

/** Carried by runs before the compact state (every device's record): still read, never written. */
export interface LegacyCarried {
  policy: RolloutPolicy;
  waves: string[][];
  nextWave: number;
  status: RolloutStatus;
  devices: Record<string, LegacyDeviceRecord>;
  offlineWaitSince?: number;
}

export interface LegacyDeviceRecord {
  outcome: DeviceOutcome;
  reason?: ErrorInfo;
  attempts: number;
  since?: number;
}
