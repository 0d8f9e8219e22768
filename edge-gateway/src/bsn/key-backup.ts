/**
 * Backup and recovery of a patient master secret (PMS) with the patient's own heartbeats
 * (DESIGN.md, "Trust boundaries and keys"; docs/operations.md, "Key backup and recovery").
 *
 * Backup: the PMS is read from the gateway keystore and locked in a fuzzy vault (fuzzy-vault.ts)
 * with the inter-pulse intervals one sensor saw during one time window. What is written is public
 * helper data, a "key backup" document:
 *
 *   { format: "vitalgate/pms-backup", version: 1, patientId, createdAt, timeBase, window, params,
 *     source, securityBits, vault: <serialised fuzzy vault>, mac }
 *
 * It holds no key: the vault is chaff and genuine points plus a salted SHA-256 of the secret, and
 * `mac` is HMAC-SHA256 under a key derived from the PMS (HKDF, own label) over the descriptive
 * fields (patient id, creation time, time base, window, source and the vault's hash). Nobody can
 * check or forge that MAC without the secret; after a recovery it proves the descriptive fields are
 * the ones written at backup, so an altered file cannot steer a recovered secret into another
 * patient's keystore entry.
 *
 * Time base: the vault's window is on the clock of the beats it was locked with. "record" is
 * seconds from the start of a recording (a WFDB record read from a file); "unix" is seconds since
 * 1970 (beats placed by the readings' own timestamps, e.g. a live MQTT stream, or a recording whose
 * start time is known). Recovery must measure the same stretch of the same body in that time base:
 * heart-rate variability changes from minute to minute, so a sensor measuring now cannot reopen a
 * window of the past. Recovery therefore needs a recording that covers the backup window (a second
 * wearable's archive, a Holter kept with the backup…).
 *
 * Second factor (optional, version 2): with a recovery code the vault does not hide the PMS but a
 * random key K_v, and the document carries the PMS sealed (XChaCha20-Poly1305) under
 *
 *   K = HKDF-SHA256(ikm = K_v ‖ scrypt(code, kdf.salt), salt = kdf.salt, info = "vitalgate/v1/key-backup/2fa")
 *
 * with the document's descriptive fields as associated data. The heartbeats yield only K_v, the
 * code only its scrypt output: the PMS needs both. The file records that a code is needed and how
 * it is stretched, never the code. Version 1 documents (no code) are read and recovered as before.
 *
 * Recovery: window after window is measured (the backup window, then neighbours of it, or the
 * successive windows of a live stream) until one unlocks the vault. The vault's salted hash makes a
 * wrong secret impossible (only the right one, or none); it is checked again before anything is
 * written, and restoreIntoKeystore never replaces a different secret a keystore already holds.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { equalBytes } from '@noble/ciphers/utils.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { scryptAsync } from '@noble/hashes/scrypt.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, hexToBytes, randomBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import {
  assertValidId, decodePayload, isValidId, isWaveformBody, parseReadingTopic, PMS_BYTES, readingTopic, TOPIC_ROOT,
  type StreamName, type WaveformBody,
} from '@vitalgate/protocol';
import { ensureDir, writeFileAtomic } from '../durable-fs.js';
import { DEFAULT_SCRYPT, type Keystore, type ScryptParams } from '../keystore.js';
import { detectRPeaks } from './beats/ecg.js';
import { detectPulsePeaks } from './beats/ppg.js';
import {
  DEFAULT_MIN_GUESS_BITS, lockSecretWithBeats, parseVault, serializeVault, unlockVaultDetailed, vaultMatchesSecret, vaultSecurity, VaultFormatError,
  zeroGuessResistance, type FuzzyVault, type LockOptions, type UnlockOptions, type VaultParams, type VaultSecurity,
} from './fuzzy-vault.js';
import { featuresFromBeats, type BeatWindow } from './ipi-features.js';
import { decodeRecoveryCode } from './recovery-code.js';

export const BACKUP_FORMAT = 'vitalgate/pms-backup';
/** Version 1: the vault hides the PMS. Version 2: the vault hides K_v and a recovery code is needed too. */
export const BACKUP_VERSION = 1;
export const BACKUP_VERSION_2FA = 2;
const MAC_INFO = utf8ToBytes('vitalgate/v1/pms-backup/mac');
const TWO_FACTOR_INFO = utf8ToBytes('vitalgate/v1/key-backup/2fa');
const KDF_SALT_BYTES = 16;
const NONCE_BYTES = 24;
/** Shortest code accepted from a file: scrypt slows guessing down, it cannot make a short guess long. */
export const MIN_CHOSEN_CODE_LENGTH = 12;

/** 'generated': a code of recovery-code.ts (typos caught by its checks); 'passphrase': text the user chose. */
export type RecoveryCodeFormat = 'generated' | 'passphrase';

/** What a version 2 document says about its second factor: everything but the code. */
export interface SecondFactor {
  kind: 'recovery-code';
  codeFormat: RecoveryCodeFormat;
  kdf: { alg: 'scrypt'; salt: Uint8Array } & ScryptParams;
  aead: 'xchacha20poly1305';
  nonce: Uint8Array;
  /** The PMS, sealed under K (ciphertext ‖ tag). */
  sealed: Uint8Array;
}

/** The clock of a vault's window: seconds from a recording's start, or seconds since 1970. */
export type TimeBase = 'record' | 'unix';

/** Where the backup's beats came from (public, descriptive). */
export interface BackupSource {
  /** 'record' (a file) or 'live' (a stream). */
  kind: 'record' | 'live';
  /** Record name, or the stream's topic. */
  name: string;
  /** Signal description (MLII, PLETH…) or stream name. */
  signal: string;
  sensor: 'ecg' | 'ppg';
}

/** A key backup document, parsed. */
export interface PatientBackup {
  patientId: string;
  /** ISO 8601. */
  createdAt: string;
  timeBase: TimeBase;
  window: BeatWindow;
  source: BackupSource;
  vault: FuzzyVault;
  /** HMAC over the descriptive fields, keyed from the PMS (hex). */
  mac: string;
  /** Present (version 2) when a recovery code is needed together with the heartbeats. */
  secondFactor?: SecondFactor;
}

/** A key backup file that is malformed, truncated or inconsistent with its vault. */
export class BackupFormatError extends VaultFormatError {
  constructor(message: string) {
    super(message);
    this.name = 'BackupFormatError';
    this.message = `invalid key backup: ${message}`;
  }
}

/** The patient is not in the keystore (backup), or holds a different secret there (restore). */
export class KeyBackupError extends Error {
  constructor(
    message: string,
    readonly code: 'unknown-patient' | 'different-secret' | 'not-verified' | 'bad-secret' | 'needs-code' | 'weak-code' | 'wrong-code-or-beats',
  ) {
    super(message);
    this.name = 'KeyBackupError';
  }
}

/** Where `vitalgate keys backup` writes by default: outside keys/, so losing the keys does not lose it too. */
export function defaultBackupPath(dataDir: string, patientId: string): string {
  assertValidId('patient', patientId);
  return join(dataDir, 'backup', `${patientId}.vault.json`);
}

// ---------------------------------------------------------------------------------------------
// the document

function macKey(secret: Uint8Array, vault: FuzzyVault): Uint8Array {
  return hkdf(sha256, secret, vault.salt, MAC_INFO, 32);
}

type SecondFactorHeader = Omit<SecondFactor, 'nonce' | 'sealed'>;

/** The descriptive fields in a fixed order (no dependence on JSON key order). */
function headerFields(b: Omit<PatientBackup, 'mac' | 'secondFactor'>, sf?: SecondFactorHeader): unknown[] {
  const common = [b.patientId, b.createdAt, b.timeBase, b.window.startSeconds, b.window.seconds, b.source.kind, b.source.name, b.source.signal, b.source.sensor, bytesToHex(b.vault.secretHash)];
  if (!sf) return [BACKUP_FORMAT, BACKUP_VERSION, ...common];
  return [
    BACKUP_FORMAT, BACKUP_VERSION_2FA, ...common, bytesToHex(b.vault.salt),
    sf.kind, sf.codeFormat, sf.kdf.alg, sf.kdf.N, sf.kdf.r, sf.kdf.p, bytesToHex(sf.kdf.salt), sf.aead,
  ];
}

/** The bytes the MAC covers: the header, and for version 2 the sealed PMS as well. */
function macInput(b: Omit<PatientBackup, 'mac'>): Uint8Array {
  const sf = b.secondFactor;
  return utf8ToBytes(JSON.stringify(sf ? [...headerFields(b, sf), bytesToHex(sf.nonce), bytesToHex(sf.sealed)] : headerFields(b)));
}

/** Associated data of the sealed PMS: moving it to another patient, window or vault breaks the tag. */
function sealAad(b: Omit<PatientBackup, 'mac' | 'secondFactor'>, sf: SecondFactorHeader): Uint8Array {
  return utf8ToBytes(JSON.stringify(headerFields(b, sf)));
}

function backupMac(secret: Uint8Array, b: Omit<PatientBackup, 'mac'>): string {
  return bytesToHex(hmac(sha256, macKey(secret, b.vault), macInput(b)));
}

/**
 * Does the PMS authenticate the backup's descriptive fields? (Constant-time compare.) For a version 1
 * backup the PMS must also match the vault's hash; in version 2 the vault hides K_v, not the PMS.
 */
export function backupMatchesSecret(backup: PatientBackup, secret: Uint8Array): boolean {
  if (!backup.secondFactor && !vaultMatchesSecret(backup.vault, secret)) return false;
  if (!/^[0-9a-f]{64}$/.test(backup.mac)) return false;
  return equalBytes(hexToBytes(backupMac(secret, backup)), hexToBytes(backup.mac));
}

/** Does recovery need a recovery code as well as the heartbeats? */
export function backupNeedsRecoveryCode(backup: PatientBackup): boolean {
  return backup.secondFactor !== undefined;
}

/** The bytes scrypt stretches: a generated code in its printed form (so case, I/L/O and spacing do not matter), a chosen one as NFKC text. */
function codePassword(code: string, format: RecoveryCodeFormat): Uint8Array {
  return utf8ToBytes(format === 'generated' ? decodeRecoveryCode(code).canonical : code.normalize('NFKC'));
}

/**
 * The slow half of the second factor: scrypt of the code with the backup's salt and costs. A
 * generated code is checked first (RecoveryCodeError naming the mistyped group), so a typo costs no
 * scrypt and no measuring. Call it once, before measuring any window.
 */
export async function recoveryCodeKey(backup: PatientBackup, code: string): Promise<Uint8Array> {
  const sf = backup.secondFactor;
  if (!sf) throw new KeyBackupError('this key backup needs no recovery code', 'bad-secret');
  const password = codePassword(code, sf.codeFormat);
  return scryptAsync(password, sf.kdf.salt, { N: sf.kdf.N, r: sf.kdf.r, p: sf.kdf.p, dkLen: 32 });
}

function twoFactorKey(vaultSecret: Uint8Array, codeKey: Uint8Array, kdfSalt: Uint8Array): Uint8Array {
  return hkdf(sha256, concatBytes(vaultSecret, codeKey), kdfSalt, TWO_FACTOR_INFO, 32);
}

/**
 * The PMS from what the vault gave up (the PMS itself in version 1; K_v in version 2, opened with
 * the code key of recoveryCodeKey). Returns null when the tag does not verify: a wrong code, or
 * beats that unlocked nothing of this backup; the two are not told apart here. Throws
 * KeyBackupError 'needs-code' for a version 2 backup without a code key.
 */
export function openRecoveredSecret(backup: PatientBackup, vaultSecret: Uint8Array, codeKey?: Uint8Array): Uint8Array | null {
  const sf = backup.secondFactor;
  if (!sf) return vaultMatchesSecret(backup.vault, vaultSecret) ? vaultSecret : null;
  if (!codeKey) throw new KeyBackupError(`the key backup of patient ${backup.patientId} needs its recovery code as well as the heartbeats`, 'needs-code');
  const k = twoFactorKey(vaultSecret, codeKey, sf.kdf.salt);
  try {
    const pms = xchacha20poly1305(k, sf.nonce, sealAad(backup, sf)).decrypt(sf.sealed);
    return pms.length === PMS_BYTES ? pms : null;
  } catch {
    return null;
  } finally {
    k.fill(0);
  }
}

/** The key backup as JSON text (pretty, one field per line, the points on one line). */
export function serializeBackup(b: PatientBackup): string {
  const sec = vaultSecurity(b.vault);
  const sf = b.secondFactor;
  const doc = {
    format: BACKUP_FORMAT,
    version: sf ? BACKUP_VERSION_2FA : BACKUP_VERSION,
    patientId: b.patientId,
    createdAt: b.createdAt,
    note: sf
      ? 'helper data: a fuzzy vault of the patient\'s inter-pulse intervals hiding a random key, and the master secret sealed under that key and a recovery code that is not stored anywhere; it contains no usable key'
      : 'public helper data: a fuzzy vault of the patient\'s inter-pulse intervals and a salted hash of the secret; it contains no key',
    timeBase: b.timeBase,
    window: b.window,
    params: b.vault.params,
    source: b.source,
    securityBits: Math.round(sec.securityBits * 10) / 10,
    vault: JSON.parse(serializeVault(b.vault)) as unknown,
    ...(sf
      ? {
          secondFactor: {
            kind: sf.kind,
            codeFormat: sf.codeFormat,
            kdf: { alg: sf.kdf.alg, N: sf.kdf.N, r: sf.kdf.r, p: sf.kdf.p, salt: bytesToHex(sf.kdf.salt) },
            aead: sf.aead,
            nonce: bytesToHex(sf.nonce),
            sealed: bytesToHex(sf.sealed),
          },
        }
      : {}),
    mac: b.mac,
  };
  return JSON.stringify(doc, null, 2) + '\n';
}

const DOC_KEYS = ['format', 'version', 'patientId', 'createdAt', 'note', 'timeBase', 'window', 'params', 'source', 'securityBits', 'vault', 'secondFactor', 'mac'];

function hexField(name: string, v: unknown, bytes?: number): Uint8Array {
  if (typeof v !== 'string' || v.length % 2 || !/^[0-9a-f]*$/.test(v) || (bytes !== undefined && v.length !== 2 * bytes)) {
    throw new BackupFormatError(`${name} must be ${bytes ?? 'some'} bytes of lower-case hex`);
  }
  return hexToBytes(v);
}

function parseSecondFactor(v: unknown): SecondFactor {
  if (!isObject(v)) throw new BackupFormatError('secondFactor must be an object');
  for (const k of Object.keys(v)) if (!['kind', 'codeFormat', 'kdf', 'aead', 'nonce', 'sealed'].includes(k)) throw new BackupFormatError(`unknown field "secondFactor.${k}"`);
  if (v.kind !== 'recovery-code') throw new BackupFormatError(`secondFactor.kind must be "recovery-code", got ${JSON.stringify(v.kind)}`);
  if (v.codeFormat !== 'generated' && v.codeFormat !== 'passphrase') throw new BackupFormatError('secondFactor.codeFormat must be "generated" or "passphrase"');
  if (v.aead !== 'xchacha20poly1305') throw new BackupFormatError(`secondFactor.aead must be "xchacha20poly1305", got ${JSON.stringify(v.aead)}`);
  const kdf = v.kdf;
  if (!isObject(kdf) || kdf.alg !== 'scrypt') throw new BackupFormatError('secondFactor.kdf must be {alg: "scrypt", N, r, p, salt}');
  const { N, r, p } = kdf;
  // Bounded, so an altered file cannot make recovery allocate gigabytes before failing.
  if (typeof N !== 'number' || !Number.isInteger(N) || N < 2 ** 10 || N > 2 ** 20 || (N & (N - 1)) !== 0) throw new BackupFormatError('secondFactor.kdf.N must be a power of two in 2^10…2^20');
  if (typeof r !== 'number' || !Number.isInteger(r) || r < 1 || r > 16) throw new BackupFormatError('secondFactor.kdf.r must be an integer in 1…16');
  if (typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p > 4) throw new BackupFormatError('secondFactor.kdf.p must be an integer in 1…4');
  return {
    kind: 'recovery-code',
    codeFormat: v.codeFormat,
    kdf: { alg: 'scrypt', N, r, p, salt: hexField('secondFactor.kdf.salt', kdf.salt, KDF_SALT_BYTES) },
    aead: 'xchacha20poly1305',
    nonce: hexField('secondFactor.nonce', v.nonce, NONCE_BYTES),
    sealed: hexField('secondFactor.sealed', v.sealed, PMS_BYTES + 16),
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Parse and validate a key backup (the JSON text written by backupPatientSecret). Throws
 * BackupFormatError (a VaultFormatError) for anything truncated, altered in structure, or
 * inconsistent with the vault it carries.
 */
export function parseBackup(input: string | Uint8Array): PatientBackup {
  const text = typeof input === 'string' ? input : new TextDecoder('utf-8', { fatal: false }).decode(input);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new BackupFormatError(`not JSON (${(e as Error).message}): the file is truncated or is not a key backup`);
  }
  if (!isObject(doc)) throw new BackupFormatError('not a JSON object');
  if (doc.format === 'vitalgate/bsn-fuzzy-vault') throw new BackupFormatError('this is a bare fuzzy vault, without the patient id and window of a key backup (write backups with `vitalgate keys backup`)');
  if (doc.format !== BACKUP_FORMAT) throw new BackupFormatError(`format must be "${BACKUP_FORMAT}", got ${JSON.stringify(doc.format)}`);
  if (doc.version !== BACKUP_VERSION && doc.version !== BACKUP_VERSION_2FA) {
    throw new BackupFormatError(`unsupported version ${JSON.stringify(doc.version)} (this build reads ${BACKUP_VERSION} and ${BACKUP_VERSION_2FA})`);
  }
  // The version says whether a code is needed: a version 1 file cannot smuggle one in, nor version 2 drop it.
  if (doc.version === BACKUP_VERSION && doc.secondFactor !== undefined) throw new BackupFormatError('secondFactor in a version 1 backup');
  if (doc.version === BACKUP_VERSION_2FA && doc.secondFactor === undefined) throw new BackupFormatError('a version 2 backup needs its secondFactor field');
  for (const k of Object.keys(doc)) if (!DOC_KEYS.includes(k)) throw new BackupFormatError(`unknown field "${k}"`);
  if (typeof doc.patientId !== 'string' || !isValidId(doc.patientId)) throw new BackupFormatError('patientId missing or not a valid id');
  if (typeof doc.createdAt !== 'string' || Number.isNaN(Date.parse(doc.createdAt))) throw new BackupFormatError('createdAt must be an ISO 8601 time');
  if (doc.timeBase !== 'record' && doc.timeBase !== 'unix') throw new BackupFormatError(`timeBase must be "record" or "unix", got ${JSON.stringify(doc.timeBase)}`);
  const s = doc.source;
  if (!isObject(s) || (s.kind !== 'record' && s.kind !== 'live') || typeof s.name !== 'string' || typeof s.signal !== 'string' || (s.sensor !== 'ecg' && s.sensor !== 'ppg')) {
    throw new BackupFormatError('source must be {kind: record|live, name, signal, sensor: ecg|ppg}');
  }
  if (typeof doc.mac !== 'string' || !/^[0-9a-f]{64}$/.test(doc.mac)) throw new BackupFormatError('mac must be 32 bytes of lower-case hex');
  if (doc.vault === undefined) throw new BackupFormatError('vault missing');
  let vault: FuzzyVault;
  try {
    vault = parseVault(doc.vault);
  } catch (e) {
    throw new BackupFormatError(`the vault inside is damaged: ${(e as Error).message}`);
  }
  const w = doc.window;
  if (!isObject(w) || typeof w.startSeconds !== 'number' || typeof w.seconds !== 'number') throw new BackupFormatError('window must be {startSeconds, seconds}');
  if (!vault.window || vault.window.startSeconds !== w.startSeconds || vault.window.seconds !== w.seconds) throw new BackupFormatError('window differs from the window recorded in the vault');
  if (!isObject(doc.params)) throw new BackupFormatError('params must be an object');
  for (const [k, v] of Object.entries(vault.params)) {
    if (doc.params[k] !== v) throw new BackupFormatError(`params.${k} differs from the vault's own parameters`);
  }
  if (Object.keys(doc.params).length !== Object.keys(vault.params).length) throw new BackupFormatError('params has fields the vault does not');
  const secondFactor = doc.secondFactor === undefined ? undefined : parseSecondFactor(doc.secondFactor);
  if (secondFactor && vault.secretBytes !== PMS_BYTES) throw new BackupFormatError(`the vault of a version 2 backup hides a ${PMS_BYTES}-byte key`);
  return {
    patientId: doc.patientId,
    createdAt: doc.createdAt,
    timeBase: doc.timeBase,
    window: { startSeconds: w.startSeconds, seconds: w.seconds },
    source: { kind: s.kind, name: s.name, signal: s.signal, sensor: s.sensor },
    vault,
    mac: doc.mac,
    ...(secondFactor ? { secondFactor } : {}),
  };
}

export async function readBackupFile(path: string): Promise<PatientBackup> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new Error(`cannot read the key backup ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    return parseBackup(bytes);
  } catch (e) {
    if (e instanceof BackupFormatError) e.message = `${path}: ${e.message}`;
    throw e;
  }
}

/** Writes a key backup durably (write, fsync, rename). Refuses to replace an existing file unless `force`. */
export async function writeBackupFile(path: string, text: string, opts: { force?: boolean } = {}): Promise<void> {
  await ensureDir(dirname(path), 0o700);
  if (!opts.force) {
    try {
      await readFile(path);
      throw new Error(`${path} exists; keep it (an older backup may match a recording you kept) or pass --force to replace it`);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  // The vault holds no key, but whoever also has the beats of its window (a recording, or plaintext
  // broker traffic of that time) can unlock it: keep it to the gateway's own user.
  await writeFileAtomic(path, text, { mode: 0o600, syncDir: true });
}

// ---------------------------------------------------------------------------------------------
// backup

export interface BackupArgs {
  keystore: Keystore;
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

// ---------------------------------------------------------------------------------------------
// recovery

/** One measured window: beat times on the vault's clock, and the window to take features from (default: the vault's). */
export interface MeasuredWindow {
  beatTimesSeconds: ArrayLike<number>;
  window?: BeatWindow;
  label?: string;
}
export type WindowMeasurement = ArrayLike<number> | MeasuredWindow;
/** Measurements one after another: a list, a (async) generator, or a function asked for window 0, 1, 2… (null = no more). */
export type WindowSource =
  | Iterable<WindowMeasurement>
  | AsyncIterable<WindowMeasurement>
  | ((index: number) => WindowMeasurement | null | undefined | Promise<WindowMeasurement | null | undefined>);

export interface RecoveryAttempt {
  window: BeatWindow;
  label?: string;
  beats: number;
  ipis: number;
  unlocked: boolean;
  /** Time the unlock attempt took (ms). */
  ms: number;
}

export type RecoveryResult =
  | { secret: Uint8Array; windowsTried: number; window: BeatWindow; label?: string; attempts: RecoveryAttempt[] }
  | { secret: null; windowsTried: number; reason: string; code: 'no-match' | 'source-ended'; attempts: RecoveryAttempt[] };

export interface RecoverArgs {
  vault: FuzzyVault;
  windows: WindowSource;
  /** Stop after this many windows. Default 32. */
  maxWindows?: number;
  unlock?: UnlockOptions;
  /** Called after every window tried. */
  onAttempt?: (a: RecoveryAttempt, index: number) => void;
}

function isMeasured(m: WindowMeasurement): m is MeasuredWindow {
  return typeof m === 'object' && m !== null && 'beatTimesSeconds' in m;
}

async function* measurements(src: WindowSource): AsyncGenerator<WindowMeasurement> {
  if (typeof src === 'function') {
    for (let i = 0; ; i++) {
      const m = await src(i);
      if (m === null || m === undefined) return;
      yield m;
    }
  }
  yield* src as Iterable<WindowMeasurement> | AsyncIterable<WindowMeasurement>;
}

/**
 * Measures window after window until one unlocks the vault (or maxWindows were tried, or the source
 * ends). Never returns a secret that does not match the vault's salted hash.
 */
export async function recoverPatientSecret(args: RecoverArgs): Promise<RecoveryResult> {
  const { vault } = args;
  const maxWindows = args.maxWindows ?? 32;
  if (!vault.window) throw new VaultFormatError('the vault records no time window, so no window can be measured for it');
  const attempts: RecoveryAttempt[] = [];
  if (maxWindows < 1) return { secret: null, windowsTried: 0, reason: 'no window was tried (maxWindows < 1)', code: 'no-match', attempts };
  let ended = true;
  for await (const m of measurements(args.windows)) {
    const beats = isMeasured(m) ? m.beatTimesSeconds : m;
    const window = (isMeasured(m) ? m.window : undefined) ?? vault.window;
    const label = isMeasured(m) ? m.label : undefined;
    const t0 = performance.now();
    const features = featuresFromBeats(beats, window, vault.params);
    const r = unlockVaultDetailed(vault, features, args.unlock ?? {});
    const attempt: RecoveryAttempt = {
      window: { startSeconds: window.startSeconds, seconds: window.seconds },
      ...(label !== undefined ? { label } : {}),
      beats: features.beats,
      ipis: features.residualsMs.length,
      unlocked: r.secret !== null,
      ms: Math.round((performance.now() - t0) * 100) / 100,
    };
    attempts.push(attempt);
    args.onAttempt?.(attempt, attempts.length - 1);
    if (r.secret) {
      if (!vaultMatchesSecret(vault, r.secret)) throw new Error('internal error: an unlocked secret does not match the vault hash');
      return { secret: r.secret, windowsTried: attempts.length, window: attempt.window, ...(label !== undefined ? { label } : {}), attempts };
    }
    if (attempts.length >= maxWindows) {
      ended = false;
      break;
    }
  }
  const w = vault.window;
  // Wall-clock windows (seconds since 1970) read better as times.
  const where = w.startSeconds > 1e8
    ? `the backup window ${new Date(w.startSeconds * 1000).toISOString()} + ${w.seconds} s`
    : `the backup window [${w.startSeconds}, ${w.startSeconds + w.seconds}) s`;
  const n = attempts.length;
  if (ended && n < maxWindows) {
    return {
      secret: null, windowsTried: n, code: 'source-ended', attempts,
      reason: `not recovered after ${n} window${n === 1 ? '' : 's'}: the measurement ended (the recording must overlap ${where}; try another sensor or a longer recording)`,
    };
  }
  return {
    secret: null, windowsTried: n, code: 'no-match', attempts,
    reason: `not recovered after ${n} window${n === 1 ? '' : 's'}: none unlocked the vault (the recording must overlap ${where} and come from the same body; try another sensor)`,
  };
}

/**
 * The backup window, then its neighbours shifted by +step, −step, +2·step, −2·step … (count in all).
 * The decoder already absorbs an ordinal offset of ±2 beats (≈ ±1.5 s at rest), so steps of about
 * 1.5 s scan a clock offset between the backup's and the recovery's time base without gaps.
 */
export function neighbourWindows(window: BeatWindow, opts: { stepSeconds: number; count: number }): BeatWindow[] {
  const out: BeatWindow[] = [];
  for (let k = 0; out.length < opts.count; k++) {
    for (const sign of k === 0 ? [0] : [1, -1]) {
      if (out.length >= opts.count) break;
      out.push({ startSeconds: window.startSeconds + sign * k * opts.stepSeconds, seconds: window.seconds });
    }
  }
  return out;
}

/**
 * Puts a recovered PMS into a keystore. Idempotent when the keystore already holds the same secret
 * (compared in constant time); refuses, with KeyBackupError 'different-secret', to replace a
 * different one. Pass the vault to have the secret checked against its hash first.
 */
export async function restoreIntoKeystore(keystore: Keystore, patientId: string, secret: Uint8Array, vault?: FuzzyVault): Promise<{ written: boolean }> {
  assertValidId('patient', patientId);
  if (!(secret instanceof Uint8Array) || secret.length !== PMS_BYTES) throw new KeyBackupError(`a patient master secret is ${PMS_BYTES} bytes`, 'bad-secret');
  if (vault && !vaultMatchesSecret(vault, secret)) throw new KeyBackupError('the secret does not match the vault\'s hash; nothing written', 'not-verified');
  const existing = await keystore.get(patientId);
  if (existing) {
    if (equalBytes(existing, secret)) return { written: false };
    throw new KeyBackupError(
      `the keystore at ${keystore.dir} already holds a different master secret for patient ${patientId}; refusing to overwrite it ` +
        '(data sealed under it would become unreadable). Recover into an empty data directory, or move that patient\'s sealed secret aside first.',
      'different-secret',
    );
  }
  await keystore.put(patientId, secret);
  return { written: true };
}

// ---------------------------------------------------------------------------------------------
// beats from a live waveform stream

export interface WaveformBeatsOptions {
  sensor: 'ecg' | 'ppg';
  /** Two frames belong to one contiguous run when the second starts within this of where the first ends (ms). Default 1.5 samples + 2 ms. */
  maxJitterMs?: number;
}

interface Frame { ts: number; rate: number; samples: number[] }

/**
 * Collects waveform frames (first-sample timestamp, rate, samples) of one stream and finds the beats
 * in them, placed on the frames' own clock: beat time = ts of its frame + offset / rate, in seconds
 * since 1970. Duplicate frames (same ts) are kept once; a gap or a rate change starts a new run, and
 * each run is analysed on its own, so a lost frame cannot misplace the beats after it.
 */
export class WaveformBeats {
  private readonly frames = new Map<number, Frame>();
  constructor(private readonly opts: WaveformBeatsOptions) {}

  add(body: Pick<WaveformBody, 'ts' | 'rate' | 'samples'>): void {
    if (!(body.rate > 0) || body.samples.length === 0 || this.frames.has(body.ts)) return;
    this.frames.set(body.ts, { ts: body.ts, rate: body.rate, samples: body.samples });
  }

  get frameCount(): number {
    return this.frames.size;
  }

  /** [first sample, end of last sample) in ms since 1970, or null before any frame. */
  span(): { fromMs: number; toMs: number } | null {
    let from = Infinity;
    let to = -Infinity;
    for (const f of this.frames.values()) {
      from = Math.min(from, f.ts);
      to = Math.max(to, f.ts + (f.samples.length * 1000) / f.rate);
    }
    return Number.isFinite(from) ? { fromMs: from, toMs: to } : null;
  }

  /** Contiguous runs of frames, in time order. */
  private runs(): Frame[][] {
    const sorted = [...this.frames.values()].sort((a, b) => a.ts - b.ts);
    const runs: Frame[][] = [];
    let cur: Frame[] = [];
    let end = -Infinity;
    let rate = 0;
    for (const f of sorted) {
      const jitter = this.opts.maxJitterMs ?? 1500 / f.rate + 2;
      if (cur.length && (f.rate !== rate || Math.abs(f.ts - end) > jitter)) {
        runs.push(cur);
        cur = [];
      }
      cur.push(f);
      rate = f.rate;
      end = f.ts + (f.samples.length * 1000) / f.rate;
    }
    if (cur.length) runs.push(cur);
    return runs;
  }

  /** Beat times (seconds since 1970), sorted. */
  beats(): number[] {
    const out: number[] = [];
    for (const run of this.runs()) {
      const rate = run[0]!.rate;
      const starts: number[] = [];
      let n = 0;
      for (const f of run) {
        starts.push(n);
        n += f.samples.length;
      }
      const x = new Float64Array(n);
      let i = 0;
      for (const f of run) for (const v of f.samples) x[i++] = v;
      const peaks = this.opts.sensor === 'ecg' ? detectRPeaks(x, rate) : detectPulsePeaks(x, rate);
      let fi = 0;
      for (const p of peaks) {
        while (fi + 1 < run.length && starts[fi + 1]! <= p) fi++;
        out.push((run[fi]!.ts + ((p - starts[fi]!) * 1000) / rate) / 1000);
      }
    }
    return out.sort((a, b) => a - b);
  }
}

export interface WaveformSubscription {
  /** The topic filter subscribed to. */
  filter: string;
  close(): Promise<void>;
}

export interface SubscribeWaveformOptions {
  url: string;
  patientId: string;
  /** Default: any device of the patient ('+'); the caller keeps to one. */
  deviceId?: string;
  stream: StreamName;
  mqtt?: Pick<IClientOptions, 'username' | 'password' | 'ca' | 'cert' | 'key' | 'rejectUnauthorized'>;
  onBody: (deviceId: string, body: WaveformBody) => void;
  /** Messages that did not decode (never throws). */
  onReject?: (topic: string, reason: string) => void;
}

/** Subscribes (QoS 1) to one waveform stream of one patient and hands over every decoded frame. */
export async function subscribeWaveform(o: SubscribeWaveformOptions): Promise<WaveformSubscription> {
  assertValidId('patient', o.patientId);
  if (o.deviceId !== undefined) assertValidId('device', o.deviceId);
  const filter = o.deviceId !== undefined ? readingTopic(o.patientId, o.deviceId, o.stream) : `${TOPIC_ROOT}/${o.patientId}/+/${o.stream}`;
  const client: MqttClient = await mqtt.connectAsync(o.url, {
    clientId: `vitalgate-keys-${process.pid}-${Math.random().toString(16).slice(2, 10)}`,
    clean: true,
    reconnectPeriod: 1000,
    connectTimeout: 15_000,
    ...(o.mqtt ?? {}),
  });
  client.on('message', (topic, payload) => {
    const t = parseReadingTopic(topic);
    if (!t.ok) return o.onReject?.(topic, t.reason);
    const p = decodePayload(t.value.stream, payload);
    if (!p.ok) return o.onReject?.(topic, p.reason);
    if (!isWaveformBody(p.value.body)) return o.onReject?.(topic, 'not a waveform frame');
    o.onBody(t.value.deviceId, p.value.body);
  });
  const granted = await client.subscribeAsync(filter, { qos: 1 });
  if (granted.some((g) => g.qos > 2)) {
    await client.endAsync(true);
    throw new Error(`the broker refused the subscription to ${filter}`);
  }
  return { filter, close: () => client.endAsync() };
}
