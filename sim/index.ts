export * from './fleet.ts';
export * from './repositories.ts';
