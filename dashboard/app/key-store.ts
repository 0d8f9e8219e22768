/**
 * The clinician's key file kept in this browser, encrypted at rest under a passphrase, in
 * IndexedDB (database "vitalgate", store "keys", one record "clinician"). It never leaves the
 * browser. Built from audited noble primitives:
 *
 *   salt  16 random bytes;  K = scrypt(passphrase (UTF-8), salt, N = 2^15, r = 8, p = 1, 32 bytes)
 *   nonce 24 random bytes;  box = XChaCha20-Poly1305(K, nonce, AAD = "vitalgate/v1/browser-key").encrypt(key file text)
 *   record {v: 1, address, salt, nonce, box} (bytes as Uint8Array)
 *
 * A wrong passphrase fails the tag: the same error as a damaged record, said as such.
 */
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { scryptAsync } from '@noble/hashes/scrypt.js';
import { randomBytes, utf8ToBytes } from '@noble/hashes/utils.js';

interface StoredKey { v: 1; address: string; salt: Uint8Array; nonce: Uint8Array; box: Uint8Array }

const AAD = utf8ToBytes('vitalgate/v1/browser-key');
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, dkLen: 32 } as const;

function db(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open('vitalgate', 1);
    req.onupgradeneeded = () => req.result.createObjectStore('keys');
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB is not available'));
  });
}

async function tx<T>(mode: IDBTransactionMode, f: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const d = await db();
  return new Promise((resolve, reject) => {
    const r = f(d.transaction('keys', mode).objectStore('keys'));
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error ?? new Error('IndexedDB request failed'));
  });
}

export async function storedKeyAddress(): Promise<string | undefined> {
  const rec = (await tx('readonly', (s) => s.get('clinician'))) as StoredKey | undefined;
  return rec?.v === 1 ? rec.address : undefined;
}

export async function saveKey(keyFileText: string, address: string, passphrase: string): Promise<void> {
  if (passphrase.length < 8) throw new Error('use a passphrase of at least 8 characters');
  const salt = randomBytes(16);
  const nonce = randomBytes(24);
  const k = await scryptAsync(utf8ToBytes(passphrase), salt, SCRYPT);
  const box = xchacha20poly1305(k, nonce, AAD).encrypt(utf8ToBytes(keyFileText));
  const rec: StoredKey = { v: 1, address, salt, nonce, box };
  await tx('readwrite', (s) => s.put(rec, 'clinician'));
}

/** The key file text, or an Error that says the passphrase is wrong (or the record damaged). */
export async function unlockKey(passphrase: string): Promise<string> {
  const rec = (await tx('readonly', (s) => s.get('clinician'))) as StoredKey | undefined;
  if (!rec || rec.v !== 1) throw new Error('no key is kept in this browser');
  const k = await scryptAsync(utf8ToBytes(passphrase), rec.salt, SCRYPT);
  try {
    return new TextDecoder().decode(xchacha20poly1305(k, rec.nonce, AAD).decrypt(rec.box));
  } catch {
    throw new Error('wrong passphrase (or the stored key is damaged)');
  }
}

export async function forgetKey(): Promise<void> {
  await tx('readwrite', (s) => s.delete('clinician'));
}
