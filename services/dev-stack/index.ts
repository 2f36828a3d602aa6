export * from './local-stack.ts';
export * from './settings.ts';
export * from './state-dir.ts';
export * from './nats-users.ts';
export { findFreeClusterPorts, findFreePort } from './ports.ts';
export { findNatsServer } from './binaries.ts';
