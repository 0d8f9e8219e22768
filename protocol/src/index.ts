export * from './streams.js';
export * from './ids.js';
export * from './reading.js';
export * from './topics.js';
export * from './payload.js';
export * from './epoch-keys.js';
export * from './epochs.js';
export * from './sealed-batch.js';
