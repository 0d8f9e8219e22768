export * from './system.js';
export * from './socat.js';
