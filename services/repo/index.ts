export * from './metadata-files.ts';
export * from './blob-store.ts';
export * from './expiry.ts';
export * from './first-root.ts';
