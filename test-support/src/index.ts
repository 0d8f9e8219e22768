export * from './system.js';
export * from './socat.js';
export * from './ports.js';
export { type RestartableServer } from './child-process.js';
export * from './pki.js';
export * from './influxd.js';
export * from './redis.js';
export * from './s3.js';
export * from './foreign-cbor.js';
