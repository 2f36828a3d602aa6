export * from './connection.ts';
export * from './streams.ts';
export * from './event-log.ts';
export * from './device-commands.ts';
export * from './durable-consumer.ts';
export * from './device-leases.ts';
export * from './device-presence.ts';
export * from './event-outbox.ts';
