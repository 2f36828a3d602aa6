export * from './targets-server.ts';
