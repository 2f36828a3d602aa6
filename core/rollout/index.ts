export * from './policy.ts';
export * from './outcomes.ts';
