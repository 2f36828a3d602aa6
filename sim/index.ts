export * from './fleet.ts';
export * from './repositories.ts';
export * from './protocol-fleet.ts';
