export * from './reading-sink.js';
export * from './serial/device-clock.js';
export * from './serial/frame-reading.js';
export * from './serial/serial-source.js';
