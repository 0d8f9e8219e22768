/**
 * Key backup files: where one is written by default, and reading and writing them durably.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { assertValidId } from '@vitalgate/protocol';
import { ensureDir, writeFileAtomic } from '@vitalgate/protocol/durable';
import { BackupFormatError, parseBackup, type PatientBackup } from './document.js';

/** Where `vitalgate keys backup` writes by default: outside keys/, so losing the keys does not lose it too. */
export function defaultBackupPath(dataDir: string, patientId: string): string {
  assertValidId('patient', patientId);
  return join(dataDir, 'backup', `${patientId}.vault.json`);
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
