export * from './ecu.ts';
export * from './secure-time.ts';
export * from './full-verification.ts';
export * from './reports.ts';
