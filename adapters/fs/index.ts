export * from './atomic-file.ts';
export * from './file-lock.ts';
export * from './file-chunks.ts';
export * from './memory.ts';
