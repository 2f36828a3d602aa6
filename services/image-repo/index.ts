export * from './image-repository.ts';
export * from './repository-server.ts';
