export * from './http.ts';
export * from './metadata-directory.ts';
export * from './target-download.ts';
export * from './resumable-download.ts';
export * from './slow-retrieval.ts';
export * from './server-trust.ts';
