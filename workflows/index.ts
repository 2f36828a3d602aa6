// Entry point of the workflow bundle: every workflow the worker runs. What a
// caller needs of them (inputs, results, messages) is in contracts.ts.
export { deviceUpdateWorkflow } from './device-update.ts';
export { metadataFreshnessWorkflow } from './metadata-freshness.ts';
export { rollbackWorkflow } from './rollback.ts';
export { rolloutWorkflow } from './rollout.ts';
