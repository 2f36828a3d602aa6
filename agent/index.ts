export * from './ab-slots.ts';
export * from './download.ts';
export * from './health-check.ts';
export * from './update-manager.ts';
export * from './cloud-client.ts';
export * from './device-agent.ts';
export * from './control-socket.ts';
export * from './control-client.ts';
