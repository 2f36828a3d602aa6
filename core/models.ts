// The zod-free part of core: what workflows import as values. Every workflow
// start evaluates its modules again, so nothing here builds a schema; a test
// (test/unit/core/models.test.ts) loads this file and fails if zod comes with it.
export * from './errors.ts';
export * from './identifiers.ts';
export * from './device-update-progress.ts';
export * from './rollout/device-policy.ts';
export * from './rollout/rollout-progress.ts';
export * from './rollout/rollout-state.ts';
export * from './rollout/waves.ts';
