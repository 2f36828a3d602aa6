import type { UpdatePhase } from './device-update-progress.ts';
import type { ErrorInfo } from './errors.ts';

/** Aggregates of the event log; each has one subject per id. */
export type Aggregate = 'device' | 'rollout' | 'repository' | 'api';

/**
 * A fact appended to the event log (`uproll.evt.<aggregate>.<id>`). Events are
 * never changed; projections and the audit trail are derived from them.
 */
export interface DomainEvent<Type extends string = string, Data = unknown> {
  aggregate: Aggregate;
  aggregateId: string;
  type: Type;
  /** When it happened (workflow time for workflow events). */
  at: string;
  data: Data;
}

/** What every device update event carries. */
export interface DeviceUpdateEventData {
  /** The id the device was commanded with (a retry's differs from its rollout's). */
  rolloutId: string;
  /** The rollout this update belongs to, when a rollout started it. */
  rollout?: string;
  revision: string;
  workflowId: string;
  deployment?: string;
  /** On `committed`: the counter of the signed version report that confirmed it. */
  reportCounter?: number;
  /** An UprollErrorCode, or a code the device reported. */
  error?: ErrorInfo;
}

export type DeviceUpdateEventType = `device.update.${'started' | UpdatePhase}`;
export type DeviceUpdateEvent = DomainEvent<DeviceUpdateEventType, DeviceUpdateEventData>;

/** What the rollout's own events carry (besides what each one adds). */
export type RolloutEventType =
  | 'rollout.started'
  | 'rollout.wave.started'
  | 'rollout.wave.finished'
  | 'rollout.gate.passed'
  | 'rollout.gate.failed'
  | 'rollout.security.alert'
  | 'rollout.paused'
  | 'rollout.resumed'
  | 'rollout.aborted'
  | 'rollout.policy.changed'
  | 'rollout.devices.joined'
  | 'rollout.devices.deferred'
  | 'rollout.offline.waiting'
  | 'rollout.offline.returned'
  | 'rollout.soak.regressed'
  | 'rollout.rolled_back'
  // The rollback of a rollout that had ended (workflows/rollback.ts), with who asked.
  | 'rollout.rollback.started'
  | 'rollout.rollback.device'
  | 'rollout.rollback.finished'
  | 'rollout.completed';
export type RolloutEvent = DomainEvent<RolloutEventType, Record<string, unknown> & { by?: string }>;
