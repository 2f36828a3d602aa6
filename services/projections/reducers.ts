import { z } from 'zod';
import {
  DEVICE_PHASES,
  deviceTagsSchema,
  TOKEN_PATTERN,
  type DomainEvent,
  type OutcomeCounts,
} from '../../core/index.ts';
import type { StoredEvent } from '../nats/index.ts';
import { rolloutReducers, newRollout } from './rollout-reducers.ts';
import type { DeviceUpdatePhase, DeviceView, FleetView, Projections, RolloutView } from './views.ts';

/**
 * The pure part of the projections: one stored event and the current values
 * it touches in, the new values out. No I/O, no clock: the same log folds to
 * the same projections, live (KV, one event at a time) or rebuilt (in memory).
 */

/** New values of the entries one event changed; absent ones did not change. */
export interface ProjectionChange {
  rollout?: RolloutView;
  device?: DeviceView;
  fleet?: FleetView;
}

/** Which entries an event may read or change, so an adapter loads just those. */
export interface TouchedKeys {
  /** Candidate rollout ids: a retry's own id and the rollout it belongs to. */
  rollouts: string[];
  device?: string;
  fleet: boolean;
}

const UPDATE_PHASES: ReadonlySet<string> = new Set<DeviceUpdatePhase>([
  'started',
  'commanded',
  ...DEVICE_PHASES,
]);
type Outcome = 'committed' | 'rolled_back' | 'failed';
const OUTCOME_COUNTER: Record<Outcome, keyof OutcomeCounts> = {
  committed: 'committed',
  rolled_back: 'rolledBack',
  failed: 'failed',
};

const errorSchema = z.object({ code: z.string(), message: z.string() });
const deviceUpdateSchema = z.object({
  rolloutId: z.string().regex(TOKEN_PATTERN),
  revision: z.string().min(1),
  workflowId: z.string().optional(),
  deployment: z.string().optional(),
  error: errorSchema.optional(),
});
const reportAcceptedSchema = z.object({
  counter: z.int().optional(),
  revision: z.string().min(1).optional(),
});
const provisionedSchema = z.object({ hardwareId: z.string().min(1) });
const taggedSchema = z.object({ tags: deviceTagsSchema });
const reportRejectedSchema = z.object({ error: errorSchema });

/** Retries of a device run as `<rollout>-r<attempt>` (workflows/rollout.ts). */
const RETRY_SUFFIX = /^(.+)-r\d+$/;

export function touchedKeys(event: DomainEvent): TouchedKeys {
  if (event.aggregate === 'rollout' && Object.hasOwn(rolloutReducers, event.type))
    return { rollouts: [event.aggregateId], fleet: false };
  if (event.aggregate === 'device' && event.type === 'device.report.accepted')
    return { rollouts: [], device: event.aggregateId, fleet: reportedRevision(event) !== undefined };
  if (
    event.aggregate === 'device' &&
    (event.type.startsWith('device.report.') ||
      event.type === 'device.provisioned' ||
      event.type === 'device.revoked' ||
      event.type === 'device.tagged')
  )
    return { rollouts: [], device: event.aggregateId, fleet: false };
  if (event.aggregate !== 'device' || !UPDATE_PHASES.has(updatePhaseOf(event.type) ?? '')) {
    return { rollouts: [], fleet: false };
  }
  const data = deviceUpdateSchema.safeParse(event.data);
  if (!data.success) return { rollouts: [], device: event.aggregateId, fleet: false };
  const { rolloutId } = data.data;
  const base = RETRY_SUFFIX.exec(rolloutId)?.[1];
  return {
    rollouts: base ? [rolloutId, base] : [rolloutId],
    device: event.aggregateId,
    fleet: event.type === 'device.update.committed',
  };
}

/**
 * What one event changes, given the current values of the entries it touches
 * (`touchedKeys`). An entry whose `lastSequence` is at or past the event's
 * sequence already has it and is left alone; unknown event types and data
 * that does not have the expected shape change nothing.
 */
export function project(state: Readonly<Projections>, stored: StoredEvent): ProjectionChange {
  const { event } = stored;
  if (event.aggregate === 'rollout') {
    const rollout = projectRollout(state.rollouts[event.aggregateId], stored);
    return rollout ? { rollout } : {};
  }
  if (event.aggregate !== 'device') return {};
  if (event.type.startsWith('device.update.')) return projectDeviceUpdate(state, stored);
  if (event.type === 'device.provisioned') {
    const device = projectProvisioned(state.devices[event.aggregateId], stored);
    return device ? { device } : {};
  }
  if (event.type === 'device.tagged') {
    const device = projectTagged(state.devices[event.aggregateId], stored);
    return device ? { device } : {};
  }
  if (event.type === 'device.revoked') {
    const device = projectRevoked(state.devices[event.aggregateId], stored);
    return device ? { device } : {};
  }
  return projectReport(state, stored);
}

/** Writes a change into in-memory projections. */
export function applyChange(state: Projections, change: ProjectionChange): void {
  if (change.rollout) state.rollouts[change.rollout.rolloutId] = change.rollout;
  if (change.device) state.devices[change.device.deviceId] = change.device;
  if (change.fleet) state.fleet = change.fleet;
}

/** Folds events, oldest first, into `state` and returns it. */
export function foldEvents(state: Projections, events: Iterable<StoredEvent>): Projections {
  for (const stored of events) applyChange(state, project(state, stored));
  return state;
}

function projectRollout(current: RolloutView | undefined, stored: StoredEvent): RolloutView | undefined {
  const { event, sequence } = stored;
  if (current && sequence <= current.lastSequence) return undefined;
  const reducer = Object.hasOwn(rolloutReducers, event.type) ? rolloutReducers[event.type] : undefined;
  const next = reducer?.(current ?? newRollout(event.aggregateId), event.data, event.at);
  return next && { ...next, updatedAt: event.at, lastSequence: sequence };
}

function projectDeviceUpdate(state: Readonly<Projections>, stored: StoredEvent): ProjectionChange {
  const { event, sequence } = stored;
  const phase = updatePhaseOf(event.type);
  const parsed = deviceUpdateSchema.safeParse(event.data);
  const before = state.devices[event.aggregateId];
  // The device is written last (see projector.ts): a device that has the event has it everywhere.
  if (!phase || !parsed.success || (before && sequence <= before.lastSequence)) return {};
  const data = parsed.data;
  const rolloutId = rolloutOfUpdate(data.rolloutId, state.rollouts);
  const change: ProjectionChange = {};

  const rollout = rolloutId === undefined ? undefined : state.rollouts[rolloutId];
  if (rollout && sequence > rollout.lastSequence) {
    const counts = recount(
      rollout.counts,
      outcomeIn(before, rollout.rolloutId),
      outcomeOf(phase, data.error),
    );
    if (counts) change.rollout = { ...rollout, counts, updatedAt: event.at, lastSequence: sequence };
  }

  const committedBefore = before?.committedRevision;
  if (phase === 'committed' && committedBefore !== data.revision && sequence > state.fleet.lastSequence)
    change.fleet = moveDevice(state.fleet, committedBefore, data.revision, sequence);

  change.device = defined({
    deviceId: event.aggregateId,
    rolloutId: rolloutId ?? data.rolloutId,
    workflowId: data.workflowId,
    revision: data.revision,
    phase,
    committedRevision: phase === 'committed' ? data.revision : committedBefore,
    deployment: data.deployment ?? before?.deployment,
    error: phase === 'started' ? undefined : (data.error ?? before?.error),
    lastReport: before?.lastReport,
    hardwareId: before?.hardwareId,
    provisionedAt: before?.provisionedAt,
    tags: before?.tags,
    updatedAt: event.at,
    lastSequence: sequence,
  });
  return change;
}

/**
 * A signed report the Director accepted is the device's own word on what it
 * runs: the device and the fleet follow it (a rollback by command, an install
 * made on the device), and a committed update it has left counts as rolled back.
 */
function projectReport(state: Readonly<Projections>, stored: StoredEvent): ProjectionChange {
  const { event, sequence } = stored;
  const before = state.devices[event.aggregateId];
  if (before && sequence <= before.lastSequence) return {};
  const base = {
    ...(before ?? { deviceId: event.aggregateId }),
    updatedAt: event.at,
    lastSequence: sequence,
  };
  if (event.type === 'device.report.rejected') {
    const data = reportRejectedSchema.safeParse(event.data);
    return data.success
      ? { device: { ...base, lastReport: { accepted: false, at: event.at, error: data.data.error } } }
      : {};
  }
  if (event.type !== 'device.report.accepted') return {};
  const data = reportAcceptedSchema.safeParse(event.data);
  if (!data.success) return {};
  const lastReport = defined({ accepted: true as const, at: event.at, counter: data.data.counter });
  const runs = data.data.revision;
  if (runs === undefined || runs === before?.committedRevision) return { device: { ...base, lastReport } };
  const leftUpdate = before?.phase === 'committed' && before.revision !== runs;
  const change: ProjectionChange = {
    device: {
      ...base,
      lastReport,
      committedRevision: runs,
      ...(leftUpdate ? { phase: 'rolled_back' as const } : {}),
    },
  };
  if (sequence > state.fleet.lastSequence)
    change.fleet = moveDevice(state.fleet, before?.committedRevision, runs, sequence);
  return change;
}

function projectProvisioned(before: DeviceView | undefined, stored: StoredEvent): DeviceView | undefined {
  const { event, sequence } = stored;
  const data = provisionedSchema.safeParse(event.data);
  if (!data.success || (before && sequence <= before.lastSequence)) return undefined;
  // Provisioned (again): a new identity, no longer revoked.
  const kept: DeviceView = {
    ...(before ?? { deviceId: event.aggregateId, updatedAt: event.at, lastSequence: 0 }),
  };
  delete kept.revokedAt;
  return {
    ...kept,
    hardwareId: data.data.hardwareId,
    provisionedAt: event.at,
    updatedAt: event.at,
    lastSequence: sequence,
  };
}

/** A device whose credentials were revoked: `devices list` says so until it is provisioned again. */
function projectRevoked(before: DeviceView | undefined, stored: StoredEvent): DeviceView | undefined {
  const { event, sequence } = stored;
  if (before && sequence <= before.lastSequence) return undefined;
  return {
    ...(before ?? { deviceId: event.aggregateId }),
    revokedAt: event.at,
    updatedAt: event.at,
    lastSequence: sequence,
  };
}

/** A device's tags as its latest `device.tagged` event left them (`uproll devices tag`). */
function projectTagged(before: DeviceView | undefined, stored: StoredEvent): DeviceView | undefined {
  const { event, sequence } = stored;
  const data = taggedSchema.safeParse(event.data);
  if (!data.success || (before && sequence <= before.lastSequence)) return undefined;
  return {
    ...(before ?? { deviceId: event.aggregateId }),
    tags: data.data.tags,
    updatedAt: event.at,
    lastSequence: sequence,
  };
}

function reportedRevision(event: DomainEvent): string | undefined {
  const data = reportAcceptedSchema.safeParse(event.data);
  return data.success ? data.data.revision : undefined;
}

function updatePhaseOf(type: string): DeviceUpdatePhase | undefined {
  const phase = type.startsWith('device.update.') ? type.slice('device.update.'.length) : '';
  return UPDATE_PHASES.has(phase) ? (phase as DeviceUpdatePhase) : undefined;
}

/** The rollout a device update counts for: its own id when known, else the rollout whose retry it is. */
function rolloutOfUpdate(
  rolloutId: string,
  rollouts: Readonly<Record<string, RolloutView>>,
): string | undefined {
  if (Object.hasOwn(rollouts, rolloutId)) return rolloutId;
  const base = RETRY_SUFFIX.exec(rolloutId)?.[1];
  return base !== undefined && Object.hasOwn(rollouts, base) ? base : undefined;
}

/** A device found offline is pending, not failed: the rollout does not count it (core/rollout/outcomes.ts). */
function outcomeOf(phase: DeviceUpdatePhase | undefined, error?: { code: string }): Outcome | undefined {
  if (phase === 'failed' && error?.code === 'DEVICE_OFFLINE') return undefined;
  return phase === 'committed' || phase === 'rolled_back' || phase === 'failed' ? phase : undefined;
}

/** The outcome a device had in a rollout before this event; none once it moved to another rollout. */
function outcomeIn(device: DeviceView | undefined, rolloutId: string): Outcome | undefined {
  return device?.rolloutId === rolloutId ? outcomeOf(device.phase, device.error) : undefined;
}

/** Moves a device from one outcome to another (a retry replaces a failure); undefined when nothing moves. */
function recount(
  counts: OutcomeCounts,
  from: Outcome | undefined,
  to: Outcome | undefined,
): OutcomeCounts | undefined {
  if (from === to) return undefined;
  const next = { ...counts };
  if (from) next[OUTCOME_COUNTER[from]] = Math.max(0, next[OUTCOME_COUNTER[from]] - 1);
  if (to) next[OUTCOME_COUNTER[to]] += 1;
  return next;
}

function moveDevice(fleet: FleetView, from: string | undefined, to: string, sequence: number): FleetView {
  const revisions = { ...fleet.revisions };
  if (from !== undefined) {
    const left = (revisions[from] ?? 0) - 1;
    if (left > 0) revisions[from] = left;
    else delete revisions[from];
  }
  revisions[to] = (revisions[to] ?? 0) + 1;
  return { revisions, devices: fleet.devices + (from === undefined ? 1 : 0), lastSequence: sequence };
}

/** Drops properties whose value is undefined, so a value reads the same before and after JSON. */
export function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
