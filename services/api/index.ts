export * from './tokens.ts';
export * from './server.ts';
export * from './routes.ts';
