/**
 * Patient master secrets at rest. Each PMS is 256 random bits made on the gateway when the patient
 * is enrolled, and is only ever written sealed:
 *
 *   KEK = scrypt(passphrase, salt; N, r, p)              (keys/keystore.json holds salt and costs)
 *   keys/patients/{patient}.json = XChaCha20-Poly1305(KEK, nonce, PMS, aad = "vitalgate/v1/pms/" ‖ patient)
 *
 * One slow KDF per gateway start instead of one per patient keeps a ward gateway with hundreds of
 * patients quick to start. The patient id in the associated data stops one patient's sealed secret
 * from being swapped into another's file. A verifier sealed under the KEK tells a wrong passphrase
 * apart from a damaged file.
 *
 * A keystore sealed under the public demo passphrase is a demo keystore: `demo: true` in
 * keystore.json says so before any KDF runs, and since that field is not authenticated (nothing
 * derived from a public passphrase could authenticate it) a keystore that opens with the demo
 * passphrase is demo whatever the file says. Deleting the field therefore never makes one real.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { scryptNative } from '@vitalgate/protocol/native';
import { bytesToHex, hexToBytes, randomBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { assertValidId, isValidId, PMS_BYTES } from '@vitalgate/protocol';
import { ensureDir, writeFileAtomic } from '@vitalgate/protocol/durable';
import { settleInterruptedRekey } from './keystore-swap.js';

export interface ScryptParams { N: number; r: number; p: number }
/** ~0.7 s and 128 MiB on this class of machine: the OWASP minimum for scrypt is N=2^17, r=8, p=1. */
export const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 17, r: 8, p: 1 };

/**
 * Printed in the README and built into every copy of vitalgate: whatever it seals, anyone can open.
 * `vitalgate start`/`run` use it so a laptop demo needs no setup.
 */
export const DEMO_PASSPHRASE = 'vitalgate-demo-passphrase-not-secret';

export interface KeystoreFile {
  version: 1;
  kdf: { alg: 'scrypt'; saltHex: string } & ScryptParams;
  verifier: { nonceHex: string; ctHex: string };
  /** Present (true) when it was created under DEMO_PASSPHRASE; older keystores lack it. */
  demo?: true;
}
interface SealedPmsFile { version: 1; patientId: string; nonceHex: string; ctHex: string }

const VERIFIER_PLAINTEXT = utf8ToBytes('vitalgate/v1/keystore-verifier');

export class WrongPassphraseError extends Error {
  constructor(path: string) {
    super(`wrong passphrase for the keystore at ${path}`);
    this.name = 'WrongPassphraseError';
  }
}

export class Keystore {
  private readonly cache = new Map<string, Uint8Array>();
  /** Enrolments under way: two batches of a new patient sealed at once must not make two secrets. */
  private readonly enrolling = new Map<string, Promise<{ pms: Uint8Array; enrolled: boolean }>>();
  private readonly creatingSecrets = new Map<string, Promise<Uint8Array>>();
  private constructor(readonly dir: string, private readonly kek: Uint8Array, readonly demo: boolean) {}

  /**
   * What keystore.json in `dir` says about itself, without the passphrase: whether there is one and
   * whether it is marked demo. A rekey that a crash interrupted is settled first, so the answer is
   * about the keystore that open() would open.
   */
  static async inspect(dir: string): Promise<{ exists: boolean; demo: boolean }> {
    await settleInterruptedRekey(dir);
    const file = await Keystore.readFile(dir);
    return { exists: !!file, demo: file?.demo === true };
  }

  private static async readFile(dir: string): Promise<KeystoreFile | undefined> {
    const path = join(dir, 'keystore.json');
    try {
      return JSON.parse(await readFile(path, 'utf8')) as KeystoreFile;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read keystore ${path}: ${(e as Error).message}`);
      return undefined;
    }
  }

  /**
   * Opens the keystore in `dir`, creating it (with a fresh salt) when none exists; one created
   * under DEMO_PASSPHRASE is marked demo. A rekey that a crash interrupted is settled first
   * (keystore-swap.ts), so this opens exactly the old keystore or exactly the new one.
   * Throws WrongPassphraseError rather than producing keys that would seal unreadable data.
   */
  static async open(dir: string, passphrase: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<Keystore> {
    if (passphrase.length === 0) throw new Error('the passphrase must not be empty');
    await settleInterruptedRekey(dir);
    const path = join(dir, 'keystore.json');
    const file = await Keystore.readFile(dir);
    const demo = passphrase === DEMO_PASSPHRASE;
    if (file) {
      if (file.version !== 1 || file.kdf?.alg !== 'scrypt') throw new Error(`unsupported keystore format in ${path}`);
      const kek = await scryptNative(passphrase, hexToBytes(file.kdf.saltHex), { N: file.kdf.N, r: file.kdf.r, p: file.kdf.p, dkLen: 32 });
      try {
        xchacha20poly1305(kek, hexToBytes(file.verifier.nonceHex)).decrypt(hexToBytes(file.verifier.ctHex));
      } catch {
        throw new WrongPassphraseError(path);
      }
      return new Keystore(dir, kek, demo || file.demo === true);
    }
    await ensureDir(join(dir, 'patients'), 0o700);
    const salt = randomBytes(16);
    const kek = await scryptNative(passphrase, salt, { ...params, dkLen: 32 });
    const nonce = randomBytes(24);
    const created: KeystoreFile = {
      version: 1,
      kdf: { alg: 'scrypt', saltHex: bytesToHex(salt), ...params },
      verifier: { nonceHex: bytesToHex(nonce), ctHex: bytesToHex(xchacha20poly1305(kek, nonce).encrypt(VERIFIER_PLAINTEXT)) },
      ...(demo && { demo: true as const }),
    };
    await writeFileAtomic(path, JSON.stringify(created, null, 2) + '\n', { mode: 0o600, syncDir: true });
    return new Keystore(dir, kek, demo);
  }

  private pmsPath(patientId: string): string {
    assertValidId('patient', patientId);
    return join(this.dir, 'patients', `${patientId}.json`);
  }

  private static aad(patientId: string): Uint8Array {
    return utf8ToBytes(`vitalgate/v1/pms/${patientId}`);
  }

  /** The patient's PMS, or undefined when the patient was never enrolled on this gateway. */
  async get(patientId: string): Promise<Uint8Array | undefined> {
    const hit = this.cache.get(patientId);
    if (hit) return hit;
    let file: SealedPmsFile;
    try {
      file = JSON.parse(await readFile(this.pmsPath(patientId), 'utf8')) as SealedPmsFile;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new Error(`cannot read the sealed secret of ${patientId}: ${(e as Error).message}`);
    }
    let pms: Uint8Array;
    try {
      pms = xchacha20poly1305(this.kek, hexToBytes(file.nonceHex), Keystore.aad(patientId)).decrypt(hexToBytes(file.ctHex));
    } catch {
      throw new Error(`the sealed secret of ${patientId} does not authenticate: the file was altered or belongs to another patient`);
    }
    if (pms.length !== PMS_BYTES) throw new Error(`the sealed secret of ${patientId} has the wrong length`);
    this.cache.set(patientId, pms);
    return pms;
  }

  /**
   * Returns the patient's PMS, enrolling the patient (new random PMS, sealed and fsynced) first if
   * needed. Resolves only once the sealed secret is durable, so no batch is ever sealed under a
   * key that a crash could lose.
   */
  getOrEnroll(patientId: string): Promise<{ pms: Uint8Array; enrolled: boolean }> {
    const hit = this.cache.get(patientId);
    if (hit) return Promise.resolve({ pms: hit, enrolled: false });
    let p = this.enrolling.get(patientId);
    if (!p) {
      p = (async () => {
        const existing = await this.get(patientId);
        if (existing) return { pms: existing, enrolled: false };
        return { pms: await this.put(patientId, randomBytes(PMS_BYTES)), enrolled: true };
      })().finally(() => this.enrolling.delete(patientId));
      this.enrolling.set(patientId, p);
    }
    return p;
  }

  /** Seals a PMS for a patient (enrolment, or restoring a recovered secret). */
  async put(patientId: string, pms: Uint8Array): Promise<Uint8Array> {
    if (pms.length !== PMS_BYTES) throw new Error(`a patient master secret is ${PMS_BYTES} bytes`);
    const nonce = randomBytes(24);
    const file: SealedPmsFile = {
      version: 1,
      patientId,
      nonceHex: bytesToHex(nonce),
      ctHex: bytesToHex(xchacha20poly1305(this.kek, nonce, Keystore.aad(patientId)).encrypt(pms)),
    };
    await ensureDir(join(this.dir, 'patients'), 0o700);
    await writeFileAtomic(this.pmsPath(patientId), JSON.stringify(file) + '\n', { mode: 0o600, syncDir: true });
    this.cache.set(patientId, pms);
    return pms;
  }

  /**
   * A named 32-byte secret sealed like the patients' (for example the gateway's chain signing key,
   * or a patient's consent key on a patient-side gateway), made on first use.
   */
  getOrCreateSecret(name: string): Promise<Uint8Array> {
    // One creation per name at a time: two first uses racing (the uploader and the envelope
    // issuer asking for a patient's account) would each make a secret, and one would be lost.
    let p = this.creatingSecrets.get(name);
    if (!p) {
      p = (async () => (await this.getSecret(name)) ?? this.putSecret(name, randomBytes(32)))().finally(() => this.creatingSecrets.delete(name));
      this.creatingSecrets.set(name, p);
    }
    return p;
  }

  private secretPath(name: string): string {
    assertValidId('secret', name);
    return join(this.dir, 'secrets', `${name}.json`);
  }

  /** A named secret, or undefined when none was made. */
  async getSecret(name: string): Promise<Uint8Array | undefined> {
    const path = this.secretPath(name);
    let file: { nonceHex: string; ctHex: string };
    try {
      file = JSON.parse(await readFile(path, 'utf8')) as { nonceHex: string; ctHex: string };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    try {
      return xchacha20poly1305(this.kek, hexToBytes(file.nonceHex), Keystore.secretAad(name)).decrypt(hexToBytes(file.ctHex));
    } catch {
      throw new Error(`the sealed secret ${name} does not authenticate: the file was altered`);
    }
  }

  /** Seals a named secret (a new one, or one carried over by a rekey). */
  async putSecret(name: string, secret: Uint8Array): Promise<Uint8Array> {
    const path = this.secretPath(name);
    const nonce = randomBytes(24);
    await ensureDir(join(this.dir, 'secrets'), 0o700);
    const file = { version: 1, name, nonceHex: bytesToHex(nonce), ctHex: bytesToHex(xchacha20poly1305(this.kek, nonce, Keystore.secretAad(name)).encrypt(secret)) };
    await writeFileAtomic(path, JSON.stringify(file) + '\n', { mode: 0o600, syncDir: true });
    return secret;
  }

  private static secretAad(name: string): Uint8Array {
    return utf8ToBytes(`vitalgate/v1/secret/${name}`);
  }

  /** Names of the sealed secrets. */
  async secrets(): Promise<string[]> {
    try {
      return (await readdir(join(this.dir, 'secrets')))
        .filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).filter(isValidId).sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }

  async patients(): Promise<string[]> {
    try {
      return (await readdir(join(this.dir, 'patients')))
        .filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).filter(isValidId).sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }
}
