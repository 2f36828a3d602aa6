export * from './connection.ts';
export * from './json-messages.ts';
