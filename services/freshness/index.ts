export * from './keep-fresh.ts';
