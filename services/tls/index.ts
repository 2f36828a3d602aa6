export * from './server-tls.ts';
export * from './web-server.ts';
