// The palette's runtime: each node file in nodes/ (CommonJS, as Node-RED requires it) imports this
// and registers its node. Everything here runs the workspace packages' code; nothing is copied.
export { registerDecode } from './nodes/decode.js';
export { registerDeviceIn } from './nodes/device-in.js';
export { registerFhir } from './nodes/fhir.js';
export { registerKeystore } from './nodes/keystore.js';
export { registerSeal, batchMessage } from './nodes/seal.js';
export { registerUpload } from './nodes/upload.js';
export { acknowledge, registerAck } from './acks.js';
export { parseReading, readingMessage, type PatientReading } from './reading-message.js';
export type { RedApi } from './red.js';
