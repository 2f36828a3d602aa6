export * from './errors.ts';
export * from './parse.ts';
export * from './identifiers.ts';
export * from './update-command.ts';
export * from './state-revision.ts';
export * from './telemetry.ts';
export * from './device-update-progress.ts';
export type * from './domain-events.ts';
export * from './freshness.ts';
