/** Node-only accelerations of protocol/ (never imported by the browser bundle). */
import { useBatchPrimitives } from '../sealed-batch.js';
import { nativeSha256, RandomPool } from './batch-primitives.js';
import { nativeXChaCha20Poly1305, nativeXChaChaAvailable } from './xchacha-native.js';

export { nativeXChaCha20Poly1305, nativeXChaChaAvailable } from './xchacha-native.js';
export { nativeSha256, RandomPool } from './batch-primitives.js';
export { scryptNative, type ScryptCost } from './scrypt-native.js';

/**
 * Seals, opens and names sealed batches (readings and summaries) and packs with OpenSSL's
 * ChaCha20-Poly1305 and SHA-256, and nonces from a pooled CSPRNG, from now on, in this process.
 * The bytes do not change. Returns whether the cipher could be installed (little-endian only);
 * the hash and the nonce pool are installed either way.
 */
export function installNativeBatchCipher(): boolean {
  const pool = new RandomPool();
  const randomBytes = (n: number) => pool.take(n);
  useBatchPrimitives({ ...(nativeXChaChaAvailable && { cipher: nativeXChaCha20Poly1305 }), sha256: nativeSha256, randomBytes });
  return nativeXChaChaAvailable;
}
