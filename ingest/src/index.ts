export { buildIngest, DEFAULT_MAX_BODY_BYTES, DEFAULT_RATE_PER_GATEWAY, INGEST_TELEMETRY_FIELDS, type IngestOptions, type TelemetrySink } from './server.js';
export { IngestError } from './errors.js';
export { ChainGatewayDirectory, type GatewayDirectory } from './gateway-directory.js';
export { MemoryReplayCache, type ReplayCache } from './replay-cache.js';
export { LocalObjectStore } from './storage/local-store.js';
export { S3ObjectStore, S3StoreError, type S3ObjectStoreOptions } from './storage/s3-store.js';
export { batchKey, type ObjectStore } from './storage/object-store.js';
export { IngestClient, batchQuery, type IngestResponse } from './client.js';
export { anchorKey, epochKey } from './routes/records.js';
export { envelopeKey } from './routes/envelopes.js';
export type { AnchoredBatchRef, BatchPage, BatchQuery, Catalog, CatalogAnchor, CatalogBatch, CatalogEntry, HourlyCount } from './catalog/catalog.js';
export { EmbeddedCatalog } from './catalog/embedded-catalog.js';
export { rebuildCatalog, type RebuildReport } from './catalog/rebuild.js';
export { InfluxCatalog, CatalogCollisionError, type InfluxCatalogOptions, type InfluxConnectionOptions } from './catalog/influx-catalog.js';
export { InfluxTelemetry, type InfluxTelemetryOptions, type TelemetryPoint, type TelemetryStats } from './telemetry/influx-telemetry.js';
export { RedisReplayCache, DEFAULT_REPLAY_KEY_PREFIX, DEFAULT_REPLAY_COMMAND_TIMEOUT_MS, type RedisReplayCacheOptions } from './replay-cache-redis.js';
export { SessionKeys, SESSION_COOKIE, DEFAULT_SESSION_SECONDS, DEFAULT_NONCE_SECONDS, type Session } from './clinician/session.js';
export { type SiweOptions } from './clinician/siwe-signin.js';
export { ChainClinicianAccess, allowingWindow, DEFAULT_ACCESS_CACHE_MS, type ClinicianAccess } from './clinician/clinician-access.js';
export { StoredAccessLog, accessLogKey, type AccessLog, type AccessLogEntry } from './clinician/access-log.js';
export { DenialReporter, DEFAULT_DENIAL_REPORT_MS, type DenialSink } from './clinician/denial-reporter.js';
export {
  AccessLogAnchorer, AnchorRecords, accessLogEntryHash, accessLogKeyTime, anchorRecordKey, parseAnchorRecord,
  ACCESS_LOG_PREFIX, ACCESS_LOG_ANCHOR_PREFIX, DEFAULT_ACCESS_LOG_ANCHOR_MS, DEFAULT_ACCESS_LOG_SETTLE_MS, type AccessLogAnchorRecord, type AuditLogSink,
} from './clinician/access-log-anchor.js';
export { startCareTeamService, type CareTeamService, type CareTeamServiceOptions } from './clinician/care-team-service.js';
export { ClinicianClient, ApiError, openWithEnvelopes, type BundlePage, type LatestPatient, type OpenedBatch, type PatientAccess } from './clinician/clinician-client.js';
export { dashboardCsp, type DashboardChain } from './plugins/dashboard.js';
export { AnchorTrees, DEFAULT_ANCHOR_TREES, DEFAULT_ANCHOR_TREE_LEAVES } from './clinician/anchor-trees.js';
