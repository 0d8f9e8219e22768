/**
 * Moving a keystore to a new passphrase: every sealed secret is opened under the old KEK and
 * sealed again under a KEK derived from the new passphrase with a new salt. Changing only the
 * verifier would not do: the secrets themselves are sealed under the KEK.
 *
 * The new keystore is written whole beside the old one and switched in as described in
 * keystore-swap.ts, so a crash at any point leaves the old keystore or the new one, never a mix of
 * files sealed under two KEKs (which neither passphrase could fully open).
 */
import { mkdir, readdir, rename, rm, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isValidId } from '@vitalgate/protocol';
import { DataDirLock } from '../store/data-dir-lock.js';
import { fsyncDir, writeFileAtomic } from '@vitalgate/protocol/durable';
import { DEFAULT_SCRYPT, DEMO_PASSPHRASE, Keystore, type ScryptParams } from './keystore.js';
import { REKEY_COMPLETE, retiredDir, settleInterruptedRekey, stagingDir } from './keystore-swap.js';

/** Thrown by a rekey told to stop after a given step (tests): the files stay as a crash would leave them. */
export class SimulatedCrash extends Error {
  constructor(readonly step: number, readonly what: string) {
    super(`simulated crash after step ${step} (${what})`);
    this.name = 'SimulatedCrash';
  }
}

export interface RekeyOptions {
  /** KDF costs of the new keystore (default DEFAULT_SCRYPT). */
  params?: ScryptParams;
  /** Tests: stop as if the process died right after step N (1-based) of the durable steps. */
  failAfter?: number;
  /** Called after each durable step, with what it did. */
  onStep?: (step: number, what: string) => void;
}

export interface RekeyResult {
  patients: number;
  secrets: number;
  /** Durable steps taken: failAfter values 1…steps each stop the rekey at a different point. */
  steps: number;
}

/** Leftovers of writeFileAtomic (`.{name}.{hex}.tmp`) from a crash: never a complete file. */
const isTmp = (f: string): boolean => f.startsWith('.') && f.endsWith('.tmp');

/** The sealed files a keystore directory holds; anything else is refused rather than dropped or carried over unreadable. */
async function inventory(keysDir: string): Promise<void> {
  const known = new Set(['keystore.json', 'patients', 'secrets', REKEY_COMPLETE]);
  const unknown: string[] = [];
  for (const f of await readdir(keysDir)) if (!known.has(f) && !isTmp(f)) unknown.push(f);
  for (const sub of ['patients', 'secrets']) {
    let files: string[];
    try {
      files = await readdir(join(keysDir, sub));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw e;
    }
    for (const f of files) if (!isTmp(f) && !(f.endsWith('.json') && isValidId(f.slice(0, -5)))) unknown.push(`${sub}/${f}`);
  }
  if (unknown.length) throw new Error(`${keysDir} holds files a rekey does not know how to carry over (${unknown.join(', ')}); nothing was changed`);
}

/**
 * Re-seals the keystore in `keysDir` (normally `{data-dir}/keys`) under `newPassphrase`. Takes the
 * data-directory lock (purpose 'keys rekey'), so it never runs beside a gateway on the same
 * directory; throws DataDirLockedError when one holds it, WrongPassphraseError for a wrong
 * `oldPassphrase`. The new keystore is not marked demo: the demo passphrase is refused as new one.
 */
export async function rekeyKeystore(keysDir: string, oldPassphrase: string, newPassphrase: string, opts: RekeyOptions = {}): Promise<RekeyResult> {
  if (newPassphrase.length === 0) throw new Error('the new passphrase must not be empty');
  if (newPassphrase === DEMO_PASSPHRASE) throw new Error('the new passphrase is the public demo passphrase; choose a secret one');
  const dataDir = dirname(keysDir);
  const lock = await DataDirLock.acquire(dataDir, 'keys rekey');
  try {
    let steps = 0;
    const step = (what: string): void => {
      steps++;
      opts.onStep?.(steps, what);
      if (opts.failAfter === steps) throw new SimulatedCrash(steps, what);
    };
    await settleInterruptedRekey(keysDir, { holdsLock: true });
    const { exists } = await Keystore.inspect(keysDir);
    if (!exists) throw new Error(`no keystore at ${keysDir}: is --data-dir the gateway's data directory?`);
    await inventory(keysDir);
    const old = await Keystore.open(keysDir, oldPassphrase);
    const patients = new Map<string, Uint8Array>();
    for (const id of await old.patients()) patients.set(id, (await old.get(id))!);
    const secrets = new Map<string, Uint8Array>();
    for (const name of await old.secrets()) secrets.set(name, (await old.getSecret(name))!);

    const staged = stagingDir(keysDir);
    await mkdir(staged, { mode: 0o700 });
    await fsyncDir(dataDir);
    step('create the staging directory');
    const fresh = await Keystore.open(staged, newPassphrase, opts.params ?? DEFAULT_SCRYPT);
    step('write the new keystore.json');
    for (const [id, pms] of patients) {
      await fresh.put(id, pms);
      step(`re-seal patient ${id}`);
    }
    for (const [name, secret] of secrets) {
      await fresh.putSecret(name, secret);
      step(`re-seal secret ${name}`);
    }
    // Read back from disk under the new passphrase before committing: a bad write is found while
    // the old keystore is still the one in place.
    const check = await Keystore.open(staged, newPassphrase);
    for (const [id, pms] of patients) {
      if (!equal((await check.get(id))!, pms)) throw new Error(`the re-sealed secret of ${id} does not read back; the old keystore is unchanged`);
    }
    for (const [name, secret] of secrets) {
      if (!equal((await check.getSecret(name))!, secret)) throw new Error(`the re-sealed secret ${name} does not read back; the old keystore is unchanged`);
    }
    await writeFileAtomic(join(staged, REKEY_COMPLETE), JSON.stringify({ version: 1, at: new Date().toISOString() }) + '\n', { mode: 0o600, syncDir: true });
    step('commit (mark the new keystore complete)');
    const retired = retiredDir(keysDir);
    await rename(keysDir, retired);
    await fsyncDir(dataDir);
    step('rename keys → keys.old');
    await rename(staged, keysDir);
    await fsyncDir(dataDir);
    step('rename keys.new → keys');
    await rm(retired, { recursive: true, force: true });
    await fsyncDir(dataDir);
    step('delete keys.old');
    // Meaningful only inside keys.new; left here it is harmless, so a crash before this is fine.
    await unlink(join(keysDir, REKEY_COMPLETE));
    step('remove the commit marker');
    return { patients: patients.size, secrets: secrets.size, steps };
  } finally {
    await lock.release();
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
