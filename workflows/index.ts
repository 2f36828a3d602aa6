// Entry point of the workflow bundle: every workflow the worker runs.
export { deviceUpdateWorkflow } from './device-update.ts';
export type { DeviceUpdateInput, DeviceUpdateResult } from './device-update.ts';
export type { FollowedUpdate, HandedOver, UpdateEnd } from './handed-over.ts';
export * from './messages.ts';
export { metadataFreshnessWorkflow } from './metadata-freshness.ts';
export { rollbackWorkflow } from './rollback.ts';
export type {
  RollbackCarried,
  RollbackDeviceResult,
  RollbackInput,
  RollbackOutcome,
  RollbackResult,
} from './rollback.ts';
export { rolloutWorkflow } from './rollout.ts';
export type { RolloutInput, RolloutResult } from './rollout.ts';
export * from './rollout-messages.ts';
