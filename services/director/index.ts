export * from './director-repository.ts';
