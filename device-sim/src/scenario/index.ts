export * from './schema.js';
export * from './transports.js';
export * from './runner.js';
