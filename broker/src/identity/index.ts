export * from './registry.js';
export * from './policy.js';
