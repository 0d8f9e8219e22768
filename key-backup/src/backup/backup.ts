/**
 * Backup: locks a patient's master secret (read from a secret store) in a fuzzy vault of one
 * window of their heartbeats, optionally with a recovery code as a second factor (document.ts).
 */
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { scryptAsync } from '@noble/hashes/scrypt.js';
import { randomBytes } from '@noble/hashes/utils.js';
import { assertValidId, PMS_BYTES } from '@vitalgate/protocol';
import {
  DEFAULT_MIN_GUESS_BITS, lockSecretWithBeats, vaultSecurity, zeroGuessResistance,
  type FuzzyVault, type LockOptions, type VaultParams, type VaultSecurity,
} from '../vault/fuzzy-vault.js';
import { featuresFromBeats, type BeatWindow } from '../features/ipi-features.js';
import {
  DEFAULT_SCRYPT, KDF_SALT_BYTES, KeyBackupError, MIN_CHOSEN_CODE_LENGTH, NONCE_BYTES, backupMac, codePassword, sealAad, serializeBackup, twoFactorKey,
  type BackupSource, type PatientBackup, type RecoveryCodeFormat, type ScryptParams, type SecondFactor, type SecondFactorHeader, type TimeBase,
} from './document.js';
import type { SecretStore } from './secret-store.js';

export interface BackupArgs {
  /** Where the PMS is read from (the gateway keystore). */
  keystore: SecretStore;
  patientId: string;
  /** Beat times (seconds) of one sensor, on the clock `timeBase` names. */
  beatTimesSeconds: ArrayLike<number>;
  window: BeatWindow;
  params?: Partial<VaultParams>;
  /** Default 'record'. */
  timeBase?: TimeBase;
  /** Default: a record named "unknown", ECG. */
  source?: BackupSource;
  /** Creation time (tests). */
  now?: Date;
  /** Passed to lockSecret (minGuessBits). */
  lock?: Pick<LockOptions, 'minGuessBits'>;
  /**
   * A second factor: recovery will need this code as well as the heartbeats. The code is used and
   * forgotten; the document records only that one is needed, its format and the scrypt costs.
   */
  recoveryCode?: { code: string; format: RecoveryCodeFormat; scrypt?: ScryptParams };
}

export interface BackupResult {
  vault: FuzzyVault;
  /** The key backup document to write (JSON text): no key in it. */
  vaultJson: string;
  security: VaultSecurity;
  /** How many decodings a "no heart-rate variability" guess needs (2^bits), from the locked features. */
  zeroGuessBits: number;
  /** IPIs locked (genuine points). */
  features: number;
  backup: PatientBackup;
}

/**
 * Locks the patient's PMS (from the keystore) with the features of `window`. Throws KeyBackupError
 * 'unknown-patient' when the keystore has no secret for the patient, VaultLockError when the
 * window has too few beats or too little heart-rate variability to lock safely.
 */
export async function backupPatientSecret(args: BackupArgs): Promise<BackupResult> {
  assertValidId('patient', args.patientId);
  const pms = await args.keystore.get(args.patientId);
  if (!pms) {
    throw new KeyBackupError(`patient ${args.patientId} has no master secret in the keystore at ${args.keystore.dir} (not enrolled on this gateway: it enrols a patient when it seals their first batch)`, 'unknown-patient');
  }
  const rc = args.recoveryCode;
  // Checked before anything slow, and before the vault exists, so a bad code leaves nothing behind.
  let password: Uint8Array | undefined;
  if (rc) {
    if (rc.format === 'passphrase' && [...rc.code.normalize('NFKC')].length < MIN_CHOSEN_CODE_LENGTH) {
      throw new KeyBackupError(`a chosen recovery code must be at least ${MIN_CHOSEN_CODE_LENGTH} characters (better: let \`--recovery-code\` generate one)`, 'weak-code');
    }
    password = codePassword(rc.code, rc.format);
  }
  // With a code the vault hides a fresh random key, so the heartbeats alone never give up the PMS.
  const vaultSecret = rc ? randomBytes(PMS_BYTES) : pms;
  const vault = lockSecretWithBeats(vaultSecret, args.beatTimesSeconds, args.window, args.params ?? {}, { minGuessBits: args.lock?.minGuessBits ?? DEFAULT_MIN_GUESS_BITS });
  const features = featuresFromBeats(args.beatTimesSeconds, args.window, vault.params);
  const body: Omit<PatientBackup, 'mac' | 'secondFactor'> = {
    patientId: args.patientId,
    createdAt: (args.now ?? new Date()).toISOString(),
    timeBase: args.timeBase ?? 'record',
    window: { startSeconds: args.window.startSeconds, seconds: args.window.seconds },
    source: args.source ?? { kind: 'record', name: 'unknown', signal: 'unknown', sensor: 'ecg' },
    vault,
  };
  let secondFactor: SecondFactor | undefined;
  if (rc && password) {
    const costs = rc.scrypt ?? DEFAULT_SCRYPT;
    const header: SecondFactorHeader = { kind: 'recovery-code', codeFormat: rc.format, kdf: { alg: 'scrypt', ...costs, salt: randomBytes(KDF_SALT_BYTES) }, aead: 'xchacha20poly1305' };
    const codeKey = await scryptAsync(password, header.kdf.salt, { N: costs.N, r: costs.r, p: costs.p, dkLen: 32 });
    const k = twoFactorKey(vaultSecret, codeKey, header.kdf.salt);
    const nonce = randomBytes(NONCE_BYTES);
    secondFactor = { ...header, nonce, sealed: xchacha20poly1305(k, nonce, sealAad(body, header)).encrypt(pms) };
    k.fill(0);
    codeKey.fill(0);
    vaultSecret.fill(0);
  }
  const full: Omit<PatientBackup, 'mac'> = { ...body, ...(secondFactor ? { secondFactor } : {}) };
  const backup: PatientBackup = { ...full, mac: backupMac(pms, full) };
  return {
    vault,
    vaultJson: serializeBackup(backup),
    security: vaultSecurity(vault),
    zeroGuessBits: zeroGuessResistance(features, vault.params).zeroGuessBits,
    features: Math.min(features.residualsMs.length, 1 << vault.params.slotBits),
    backup,
  };
}
