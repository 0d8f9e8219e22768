/**
 * What `keys backup` and `keys recover` share: option parsers, the keystore they open, the recovery
 * code file, and how they fail.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError } from 'commander';
import { Keystore, dataDirLayout } from '@vitalgate/edge-gateway';
import { looksLikeRecoveryCode, type RecoveryCodeFormat } from '@vitalgate/key-backup';

/** A mistake in what was asked (exit 2 where a command says so). */
export class UserError extends Error {}

export const RECOVERY_CODE_ENV = 'VITALGATE_RECOVERY_CODE_FILE';

/** --record-start: ms since 1970, or an ISO 8601 time. Returns ms. */
export function parseTime(v: string): number {
  const n = Number(v);
  if (v.trim() !== '' && Number.isFinite(n)) {
    if (n < 946684800000) throw new InvalidArgumentError('--record-start as a number is milliseconds since 1970 (e.g. 1718000000000)');
    return n;
  }
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new InvalidArgumentError('--record-start must be an ISO 8601 time (2025-06-01T08:30:00Z) or milliseconds since 1970');
  return t;
}

export function streamName(v: string): 'ecg' | 'ppg' {
  if (v !== 'ecg' && v !== 'ppg') throw new InvalidArgumentError('--stream must be ecg or ppg');
  return v;
}

export async function openExistingKeystore(dataDir: string, passphrase: string): Promise<Keystore> {
  const dir = dataDirLayout(dataDir).keys;
  if (!existsSync(path.join(dir, 'keystore.json'))) {
    throw new UserError(`no keystore at ${dir}: is --data-dir the gateway's data directory?`);
  }
  return Keystore.open(dir, passphrase);
}

/** The code from a file ('-' = stdin), without its trailing line break. */
export function readRecoveryCodeFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    throw new UserError(`cannot read the recovery code file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const code = text.replace(/\r?\n$/, '');
  if (!code.trim()) throw new UserError(`the recovery code file ${file} is empty`);
  if (file !== '-') {
    try {
      if ((statSync(file).mode & 0o077) !== 0) process.stderr.write(`warning: ${file} is readable by other users; chmod 600 it (or shred it once the code is on paper)\n`);
    } catch { /* raced a delete: reading it already worked */ }
  }
  return code;
}

/** A supplied code is a generated one when it has the generated shape (then its checks must pass), else a chosen passphrase. */
export function suppliedCodeFormat(code: string): RecoveryCodeFormat {
  return looksLikeRecoveryCode(code) ? 'generated' : 'passphrase';
}

export function fail(cmd: string, e: unknown, code = 1): never {
  process.stderr.write(`vitalgate keys ${cmd}: ${(e as Error).message}\n`);
  process.exit(code);
}

export const LIMITATION = [
  'Limitation: inter-pulse intervals change from minute to minute, so only the same stretch of the',
  'same body reopens a vault. Recovery needs a recording, from any sensor on the same body, that',
  'covers the backup window: a second wearable\'s archive, or a Holter recording kept with the',
  'backup. A sensor measuring today cannot reopen a backup made last week. Another ECG lead agrees',
  'best; a PPG\'s pulse-transit jitter often exceeds the vault\'s ±6 ms tolerance (measure your',
  'sensors with `vitalgate keys evaluate`).',
];
