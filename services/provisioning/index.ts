export * from './device-bundle.ts';
