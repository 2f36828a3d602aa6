export * from './app-supervisor.ts';
export * from './image-bundle.ts';
export * from './image-user.ts';
export * from './layer-extract.ts';
export * from './runc.ts';
export * from './runtime-spec.ts';
