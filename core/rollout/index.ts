export * from './policy.ts';
export * from './outcomes.ts';
export * from './maintenance-window.ts';
export * from './waves.ts';
export * from './rollout-commits.ts';
