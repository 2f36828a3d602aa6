// Apart from services/nats, which the device agent loads: only the fleet side signs NATS identities.
export * from './deployment-identity.ts';
export * from './device-credentials.ts';
export * from './account-update.ts';
export * from './server-config.ts';
export * from './device-connection-guard.ts';
export * from './own-server-tls.ts';
