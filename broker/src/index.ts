export * from './broker.js';
export * from './memory-persistence.js';
export * from './identity/index.js';
export * from './cluster.js';
export * from './listeners.js';
export * from './metrics.js';
