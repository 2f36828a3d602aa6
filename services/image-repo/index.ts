export * from './image-repository.ts';
export * from './repository-server.ts';
export * from './key-rotation.ts';
export * from './ostree-repo.ts';
export * from './oci-layout.ts';
