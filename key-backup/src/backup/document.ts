/**
 * Backup and recovery of a patient master secret (PMS) with the patient's own heartbeats
 * (DESIGN.md, "Trust boundaries and keys"; docs/operations.md, "Key backup and recovery").
 *
 * Backup: the PMS is read from a secret store (the gateway keystore) and locked in a fuzzy vault (vault/fuzzy-vault.ts)
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
 *
 * This module is the document: its format, MAC, second factor, serialising and parsing. backup.ts
 * locks, recover.ts measures window after window, restore.ts writes the recovered secret, files.ts
 * reads and writes backup files.
 */
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { equalBytes } from '@noble/ciphers/utils.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { scryptAsync } from '@noble/hashes/scrypt.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { isValidId, PMS_BYTES } from '@vitalgate/protocol';
import { parseVault, serializeVault, vaultMatchesSecret, vaultSecurity, VaultFormatError, type FuzzyVault } from '../vault/fuzzy-vault.js';
import type { BeatWindow } from '../features/ipi-features.js';
import { decodeRecoveryCode } from '../vault/recovery-code.js';

export const BACKUP_FORMAT = 'vitalgate/pms-backup';
/** Version 1: the vault hides the PMS. Version 2: the vault hides K_v and a recovery code is needed too. */
export const BACKUP_VERSION = 1;
export const BACKUP_VERSION_2FA = 2;
const MAC_INFO = utf8ToBytes('vitalgate/v1/pms-backup/mac');
const TWO_FACTOR_INFO = utf8ToBytes('vitalgate/v1/key-backup/2fa');
export const KDF_SALT_BYTES = 16;
export const NONCE_BYTES = 24;
/** Shortest code accepted from a file: scrypt slows guessing down, it cannot make a short guess long. */
export const MIN_CHOSEN_CODE_LENGTH = 12;

/** scrypt costs (of a recovery code). */
export interface ScryptParams { N: number; r: number; p: number }
/** ~0.7 s and 128 MiB on this class of machine: the OWASP minimum for scrypt is N=2^17, r=8, p=1. */
export const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 17, r: 8, p: 1 };

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

// ---------------------------------------------------------------------------------------------
// the document

function macKey(secret: Uint8Array, vault: FuzzyVault): Uint8Array {
  return hkdf(sha256, secret, vault.salt, MAC_INFO, 32);
}

export type SecondFactorHeader = Omit<SecondFactor, 'nonce' | 'sealed'>;

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
export function sealAad(b: Omit<PatientBackup, 'mac' | 'secondFactor'>, sf: SecondFactorHeader): Uint8Array {
  return utf8ToBytes(JSON.stringify(headerFields(b, sf)));
}

export function backupMac(secret: Uint8Array, b: Omit<PatientBackup, 'mac'>): string {
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
export function codePassword(code: string, format: RecoveryCodeFormat): Uint8Array {
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

export function twoFactorKey(vaultSecret: Uint8Array, codeKey: Uint8Array, kdfSalt: Uint8Array): Uint8Array {
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

export function isObject(v: unknown): v is Record<string, unknown> {
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

