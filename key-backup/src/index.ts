/**
 * @vitalgate/key-backup: the BSN key scheme. A patient master secret is locked in a fuzzy vault of
 * the patient's own inter-pulse intervals and recovered by measuring the body again
 * (docs/key-backup.md).
 * - vault/: the Juels–Sudan fuzzy vault over GF(2^16) (field/), and recovery codes;
 * - features/: inter-pulse-interval features of a window of beats;
 * - backup/: the key backup document, backup, recovery, restore into a secret store, backup files;
 * - evaluate/: unlock and false-accept rates on recordings;
 * - sources/: where beats come from (a WFDB record, a live MQTT waveform stream), and clock mapping.
 * GF(2^16) and polynomial arithmetic are internal (field/).
 */

// vault/
export {
  VAULT_FORMAT,
  VAULT_VERSION,
  VAULT_FIELD,
  DEFAULT_VAULT_PARAMS,
  DEFAULT_MIN_GUESS_BITS,
  VaultFormatError,
  VaultLockError,
  resolveVaultParams,
  validateVaultParams,
  log2Binomial,
  securityBits,
  vaultSecurity,
  zeroGuessResistance,
  lockSecret,
  unlockVault,
  unlockVaultDetailed,
  lockSecretWithBeats,
  unlockVaultWithBeats,
  vaultMatchesSecret,
  serializeVault,
  parseVault,
  isGenuinePoint,
  type VaultParams,
  type FuzzyVault,
  type FeatureInput,
  type VaultSecurity,
  type LockOptions,
  type UnlockOptions,
  type UnlockResult,
} from './vault/fuzzy-vault.js';
export {
  RECOVERY_CODE_GROUPS,
  RECOVERY_CODE_BITS,
  RecoveryCodeError,
  generateRecoveryCode,
  encodeRecoveryDigits,
  looksLikeRecoveryCode,
  decodeRecoveryCode,
  type DecodedRecoveryCode,
} from './vault/recovery-code.js';

// features/
export {
  DEFAULT_SPLIT_ABOVE,
  DEFAULT_MERGE_BELOW,
  beatsInWindow,
  correctIpis,
  featuresFromBeats,
  alignBeats,
  ipiDisagreementMs,
  type BeatWindow,
  type IpiFeatureOptions,
  type IpiFeatures,
  type QuantiserParams,
} from './features/ipi-features.js';

// backup/
export type { SecretStore } from './backup/secret-store.js';
export {
  BACKUP_FORMAT,
  BACKUP_VERSION,
  BACKUP_VERSION_2FA,
  MIN_CHOSEN_CODE_LENGTH,
  DEFAULT_SCRYPT,
  BackupFormatError,
  KeyBackupError,
  backupMatchesSecret,
  backupNeedsRecoveryCode,
  recoveryCodeKey,
  openRecoveredSecret,
  serializeBackup,
  parseBackup,
  type ScryptParams,
  type RecoveryCodeFormat,
  type SecondFactor,
  type TimeBase,
  type BackupSource,
  type PatientBackup,
} from './backup/document.js';
export { backupPatientSecret, type BackupArgs, type BackupResult } from './backup/backup.js';
export {
  recoverPatientSecret,
  neighbourWindows,
  type MeasuredWindow,
  type WindowMeasurement,
  type WindowSource,
  type RecoveryAttempt,
  type RecoveryResult,
  type RecoverArgs,
} from './backup/recover.js';
export { restoreIntoKeystore } from './backup/restore.js';
export { defaultBackupPath, readBackupFile, writeBackupFile } from './backup/files.js';

// evaluate/
export {
  DEFAULT_WINDOW_SECONDS,
  evaluateRecords,
  type SignalBeats,
  type RecordBeats,
  type EvaluateOptions,
  type SignalPairAgreement,
  type RecordSummary,
  type EvaluationReport,
} from './evaluate/evaluate.js';

// sources/
export { WaveformBeats, type WaveformBeatsOptions } from './sources/waveform-beats.js';
export { subscribeWaveform, type SubscribeWaveformOptions, type WaveformSubscription } from './sources/mqtt-waveform.js';
export { SourceError } from './sources/errors.js';
export { isLiveSource, formatBackupTime, formatBackupWindow, toBackupClock } from './sources/clock.js';
export {
  LEARN_SECONDS,
  TAIL_SECONDS,
  pulseSignals,
  pickSignals,
  recordBeats,
  recordDuration,
  openRecord,
  captureRecordWindow,
  recordRecoveryPlan,
  loadRecordBeats,
  type CapturedWindow,
  type RecordSignal,
  type RecordWindowOptions,
  type RecordRecoveryOptions,
} from './sources/record.js';
export {
  LIVE_WARMUP_SECONDS,
  openLiveWaveform,
  captureLiveWindow,
  liveRecoveryWindows,
  type LiveOptions,
  type LiveWaveform,
} from './sources/live.js';
