export * from './nats-credentials.ts';
