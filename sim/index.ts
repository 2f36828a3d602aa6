export * from './fleet.ts';
export * from './repositories.ts';
export * from './protocol-fleet.ts';
export * from './oci-layout.ts';
export * from './tar-archive.ts';
