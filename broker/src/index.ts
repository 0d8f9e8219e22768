export * from './broker.js';
export * from './memory-persistence.js';
export * from './identity/index.js';
