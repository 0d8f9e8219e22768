// The gateway's public entry point: every name is listed (no barrels of internals). Each line is
// a stage, in pipeline order; `gateway.ts` wires them. The keyless audit (`verify`) also has a
// subpath of its own: @vitalgate/edge-gateway/verify.

// Composition root
export {
  Gateway, DEFAULT_ANCHOR_PERIOD_MS, DEFAULT_BATCH_WINDOW_MS, DEFAULT_MAX_BATCH_SAMPLES,
  type GatewayEvents, type GatewayMetrics, type GatewayOptions,
} from './gateway.js';

// intake/
export type { AckPolicy } from './intake/ack-policy.js';
export { LocalIntake, DEFAULT_LOCAL_MAX_UNACKED, type SendAck } from './intake/local-intake.js';
export { MqttIntake, DEFAULT_MAX_UNACKED, type IntakeSink, type MqttIntakeOptions, type MqttIntakeStatus } from './intake/mqtt-intake.js';
export type { BleSourceConfig, SerialSourceConfig } from './intake/device-sources.js';

// batching/
export { seqRanges } from './batching/seq-window.js';

// store/
export { BatchIndex, seqKey, summarySeqKey, type BatchRecord } from './store/batch-index.js';
export { PackStore, readStoredRanges, type StoredBatch, type StoredRange } from './store/pack-store.js';
export { assertDataDir, dataDirLayout, NoDataDirError, type DataDirLayout } from './store/data-dir.js';
export {
  batchMatches, isFiltering, parseBatchFilter, parseReadTime, readingsInRange, rowsInRange, type BatchFilter, type BatchFilterArgs, type BatchSpan,
} from './store/batch-filter.js';
export { filterOpened, readStore, openOne, type OpenedBatch } from './store/batch-reader.js';
export {
  DataDirLock, DataDirLockedError, isLockLive, lockPath, processStartTime, readLock, type LockInfo,
} from './store/data-dir-lock.js';

// keys/
export { Keystore, WrongPassphraseError, DEFAULT_SCRYPT, DEMO_PASSPHRASE, type KeystoreFile, type ScryptParams } from './keys/keystore.js';
export { rekeyKeystore, SimulatedCrash, type RekeyOptions, type RekeyResult } from './keys/keystore-rekey.js';
export { EpochClock } from './keys/epoch-clock.js';

// anchoring/
export { ChainLink, type ChainOptions } from './anchoring/chain-link.js';
export {
  Anchorer, readAnchorLog, readAnchors,
  type AnchorEntry, type AnchorerStatus, type AnchorLogLine, type MinedAnchor,
} from './anchoring/anchorer.js';
export { readGatewayAccount, verifyStore, type VerifyFailure, type VerifyReport } from './anchoring/verify.js';

// envelopes/
export { EnvelopeIssuer, envelopeUploadKey, type EnvelopeIssuerStatus, type EnvelopeKeys, type EnvelopeRecord } from './envelopes/envelope-issuer.js';

// upload/
export {
  Uploader, BUNDLE_MAX_BATCHES, BUNDLE_MAX_BYTES, DEFAULT_SPOOL_QUOTA_BYTES, DEFAULT_UPLOAD_CONCURRENCY, MAX_BACKOFF_MS,
  type AnchorBatchRef, type CloudSender, type SendResult, type UploaderOptions, type UploaderStatus,
} from './upload/uploader.js';
export { readIngest } from './upload/cloud-reader.js';
export { verifyIngest, type CloudVerifyReport } from './upload/cloud-verify.js';

// export/
export { exportFhir, parseExportTime, FhirExportInputError, type FhirExportOptions, type FhirExportResult } from './export/fhir-export.js';
