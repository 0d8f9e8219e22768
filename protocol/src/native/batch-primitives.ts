/**
 * OpenSSL's SHA-256 and a pooled CSPRNG for the gateway's batches. A gateway seals thousands of
 * batches a second; per batch it used to ask WebCrypto for 24 random bytes (a few µs of call
 * overhead each) and hash the sealed bytes and the pack in JavaScript.
 *
 * The pool is filled from node:crypto's CSPRNG 4 KiB at a time, and every call gets bytes no other
 * call got (copied out, never handed out twice), so nonces stay as unpredictable and unique as
 * randomBytes' own.
 */
import { createHash, randomFillSync } from 'node:crypto';

export function nativeSha256(bytes: Uint8Array): Uint8Array {
  return createHash('sha256').update(bytes).digest();
}

const POOL_BYTES = 4096;

export class RandomPool {
  private readonly pool = new Uint8Array(POOL_BYTES);
  private at = POOL_BYTES;

  take(n: number): Uint8Array {
    if (n > POOL_BYTES) return randomFillSync(new Uint8Array(n));
    if (this.at + n > POOL_BYTES) {
      randomFillSync(this.pool);
      this.at = 0;
    }
    const out = this.pool.slice(this.at, this.at + n);
    this.at += n;
    return out;
  }
}
