/**
 * scrypt (RFC 7914) from OpenSSL through node:crypto, for the gateway's keystore: same bytes as
 * noble's scrypt (cross-checked by the tests), but it runs on libuv's thread pool, so the event
 * loop stays free for other start-up work while the key is derived (the FHIR export compiles its
 * schema meanwhile), and OpenSSL's is faster than the JavaScript one. Node only.
 */
import { scrypt } from 'node:crypto';

export interface ScryptCost {
  N: number;
  r: number;
  p: number;
  dkLen: number;
}

/** OpenSSL refuses to use more than `maxmem`; scrypt needs 128·N·r bytes (+ 128·r·p), so ask for that with room. */
function maxmemFor(c: ScryptCost): number {
  return 128 * c.N * c.r + 128 * c.r * c.p + 16 * 1024 * 1024;
}

export function scryptNative(password: Uint8Array | string, salt: Uint8Array | string, c: ScryptCost): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, c.dkLen, { N: c.N, r: c.r, p: c.p, maxmem: maxmemFor(c) }, (err, key) => {
      if (err) reject(err);
      else resolve(new Uint8Array(key.buffer, key.byteOffset, key.byteLength));
    });
  });
}
