export * from './nats-credentials.ts';
export * from './keystore.ts';
