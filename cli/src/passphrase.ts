/**
 * Where the gateway passphrase comes from. A file (0600, outside the data directory) keeps it out
 * of shell history, process listings and environment dumps; the environment names only the file.
 * With neither, the public demo passphrase is used and said loudly: fine for `npm start` on a
 * laptop, never for patient data.
 */
import { readFileSync, statSync } from 'node:fs';

export const DEMO_PASSPHRASE = 'vitalgate-demo-passphrase-not-secret';

export interface PassphraseSource {
  passphrase: string;
  demo: boolean;
  from: string;
}

export function resolvePassphrase(file?: string, warn: (msg: string) => void = (m) => process.stderr.write(m + '\n')): PassphraseSource {
  const path = file ?? process.env.VITALGATE_PASSPHRASE_FILE;
  if (path) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw new Error(`cannot read the passphrase file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const passphrase = text.replace(/\r?\n$/, '');
    if (passphrase.length < 8) throw new Error(`the passphrase in ${path} is shorter than 8 characters`);
    try {
      if ((statSync(path).mode & 0o077) !== 0) warn(`warning: ${path} is readable by other users; chmod 600 it`);
    } catch { /* stat raced a delete: reading it already worked */ }
    return { passphrase, demo: false, from: path };
  }
  warn('warning: no --passphrase-file (or VITALGATE_PASSPHRASE_FILE): patient keys are sealed under the PUBLIC demo passphrase. Use a passphrase file for real data.');
  return { passphrase: DEMO_PASSPHRASE, demo: true, from: 'demo' };
}
