export * from './gateway.js';
export * from './keystore.js';
export * from './batch-index.js';
export * from './pack-store.js';
export * from './epoch-clock.js';
export * from './data-dir.js';
export * from './batch-reader.js';
