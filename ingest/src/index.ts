export { buildIngest, DEFAULT_MAX_BODY_BYTES, type IngestOptions } from './server.js';
export { IngestError } from './errors.js';
export { ChainGatewayDirectory, type GatewayDirectory } from './gateway-directory.js';
export { MemoryReplayCache, type ReplayCache } from './replay-cache.js';
export { LocalObjectStore } from './storage/local-store.js';
export { batchKey, type ObjectStore } from './storage/object-store.js';
export { IngestClient, batchQuery, type IngestResponse } from './client.js';
export { anchorKey, epochKey } from './routes/records.js';
