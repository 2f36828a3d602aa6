export * from './director-repository.ts';
export * from './report-listener.ts';
export * from './key-exposure.ts';
export * from './assign-revision.ts';
export * from './key-rotation.ts';
export * from './device-tags.ts';
export * from './rollout-preflight.ts';
