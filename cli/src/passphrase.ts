/**
 * Where the gateway passphrase comes from. A file (0600, outside the data directory) keeps it out
 * of shell history, process listings and environment dumps; the environment names only the file.
 *
 * With neither, only `vitalgate start` and `run` fall back to the public demo passphrase (said
 * loudly): a laptop demo needs no setup. Every other command that opens a keystore goes through
 * keystorePassphrase(), which refuses the demo passphrase and a demo keystore unless told
 * --allow-demo-passphrase, so demo keys never quietly end up guarding patient data.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { DEMO_PASSPHRASE, Keystore } from '@vitalgate/edge-gateway';

export { DEMO_PASSPHRASE };

export interface PassphraseSource {
  passphrase: string;
  demo: boolean;
  from: string;
}

type Warn = (msg: string) => void;
const stderrWarn: Warn = (m) => process.stderr.write(m + '\n');

export const ALLOW_DEMO_OPTION = ['--allow-demo-passphrase', 'accept the PUBLIC demo passphrase and keystores made by `start`/`run` (throw-away data only)'] as const;
export const PASSPHRASE_FILE_ENV = 'VITALGATE_PASSPHRASE_FILE';

/** Exit code 2 (main.ts): the command was asked to do something it must not, nothing ran. */
export class DemoPassphraseRefused extends Error {
  constructor(reason: string, dataDir: string) {
    super([
      `refusing the public demo passphrase: ${reason}.`,
      `  Set a real passphrase: write it to a file only you can read (chmod 600) and pass --passphrase-file FILE, or set ${PASSPHRASE_FILE_ENV}=FILE.`,
      `  Move an existing demo keystore (made by \`vitalgate start\` or \`run\`) to it: vitalgate keys rekey --data-dir ${dataDir} --new-passphrase-file FILE`,
      '  Throw-away data only: add --allow-demo-passphrase.',
    ].join('\n'));
    this.name = 'DemoPassphraseRefused';
  }
}

/** The passphrase in `path`, without its final newline; at least 8 characters. */
export function readPassphraseFile(path: string, warn: Warn = stderrWarn): string {
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
  return passphrase;
}

/** The passphrase file named by the flag or the environment, if any. */
function passphraseFile(file?: string): string | undefined {
  return file ?? (process.env[PASSPHRASE_FILE_ENV] || undefined);
}

/**
 * For `vitalgate start` and `run` only: the passphrase file's, or the demo passphrase with a
 * warning. Everything else uses keystorePassphrase().
 */
export function resolvePassphrase(file?: string, warn: Warn = stderrWarn): PassphraseSource {
  const path = passphraseFile(file);
  if (path) {
    const passphrase = readPassphraseFile(path, warn);
    return { passphrase, demo: passphrase === DEMO_PASSPHRASE, from: path };
  }
  warn(`warning: no --passphrase-file (or ${PASSPHRASE_FILE_ENV}): patient keys are sealed under the PUBLIC demo passphrase. Use a passphrase file for real data.`);
  return { passphrase: DEMO_PASSPHRASE, demo: true, from: 'demo' };
}

export interface KeystorePassphraseOptions {
  /** --passphrase-file (or a config file's); the environment is consulted when absent. */
  passphraseFile?: string;
  /** --allow-demo-passphrase. */
  allowDemo?: boolean;
  /** The keystore the passphrase is for (`{data-dir}/keys`): one marked demo is refused too. */
  keysDir: string;
  warn?: Warn;
}

/**
 * The one gate for every command that opens a keystore except `start`, `run` and `keys rekey`.
 * Refuses (DemoPassphraseRefused) when there is no passphrase file, when the file holds the demo
 * passphrase, or when the keystore is marked demo. The mark is not authenticated, but a keystore
 * without it that was made under the demo passphrase only opens with the demo passphrase, which
 * this refuses as such.
 */
export async function keystorePassphrase(o: KeystorePassphraseOptions): Promise<PassphraseSource> {
  const warn = o.warn ?? stderrWarn;
  const path = passphraseFile(o.passphraseFile);
  const passphrase = path ? readPassphraseFile(path, warn) : DEMO_PASSPHRASE;
  let reason: string | undefined;
  if (!path) reason = `no --passphrase-file and no ${PASSPHRASE_FILE_ENV}`;
  else if (passphrase === DEMO_PASSPHRASE) reason = `${path} holds the demo passphrase`;
  else if ((await Keystore.inspect(o.keysDir)).demo) reason = `the keystore in ${o.keysDir} was made under it (marked demo)`;
  if (!reason) return { passphrase, demo: false, from: path! };
  if (!o.allowDemo) throw new DemoPassphraseRefused(reason, dirname(o.keysDir));
  warn(`warning: --allow-demo-passphrase: ${reason}; the keys in ${o.keysDir} are readable by anyone. Never use this for real patient data.`);
  return { passphrase, demo: true, from: path ?? 'demo' };
}
