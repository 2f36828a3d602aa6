export * from './nats-credentials.ts';
export * from './keystore.ts';
export * from './key-id-prefix.ts';
export * from './image-repository-keys.ts';
export * from './root-proposal.ts';
export * from './fleet-ca.ts';
export * from './role-rotation.ts';
export * from './current-role-signers.ts';
