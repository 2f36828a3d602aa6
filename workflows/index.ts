// Entry point of the workflow bundle: every workflow the worker runs.
export { deviceUpdateWorkflow } from './device-update.ts';
export type { DeviceUpdateInput, DeviceUpdateResult } from './device-update.ts';
export * from './messages.ts';
export { metadataFreshnessWorkflow } from './metadata-freshness.ts';
