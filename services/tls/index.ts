export * from './server-tls.ts';
export * from './web-server.ts';
export * from './client-certificates.ts';
