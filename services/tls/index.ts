export * from './server-tls.ts';
