export * from './atomic-file.ts';
export * from './file-lock.ts';
