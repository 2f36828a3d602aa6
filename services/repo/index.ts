export * from './metadata-files.ts';
