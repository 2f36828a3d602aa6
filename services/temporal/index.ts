export * from './search-attributes.ts';
export * from './worker.ts';
export * from './device-updates.ts';
export * from './runtime.ts';
export * from './schedules.ts';
export * from './rollouts.ts';
export * from './rollbacks.ts';
export * from './update-ends.ts';
