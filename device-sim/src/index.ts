export * from './profiles.js';
export * from './device.js';
export * from './simulation.js';
export * from './signals/index.js';
export * from './transports/serial-link.js';
export * from './transports/ble-sim-hub.js';
export * from './replay.js';
export * from './scenario/index.js';
