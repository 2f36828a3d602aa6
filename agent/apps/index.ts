export * from './image-bundle.ts';
export * from './layer-extract.ts';
