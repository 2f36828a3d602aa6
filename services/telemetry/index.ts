export * from './bridge.ts';
export * from './stored-telemetry.ts';
