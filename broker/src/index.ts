export * from './broker.js';
export * from './memory-persistence.js';
