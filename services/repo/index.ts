export * from './metadata-files.ts';
export * from './blob-store.ts';
export * from './expiry.ts';
