/** Node-only accelerations of protocol/ (never imported by the browser bundle). */
import { useBatchCipher } from '../sealed-batch.js';
import { nativeXChaCha20Poly1305, nativeXChaChaAvailable } from './xchacha-native.js';

export { nativeXChaCha20Poly1305, nativeXChaChaAvailable } from './xchacha-native.js';
export { scryptNative, type ScryptCost } from './scrypt-native.js';

/**
 * Seals and opens sealed batches (readings and summaries) with OpenSSL's ChaCha20-Poly1305 from
 * now on, in this process. The bytes do not change. Returns whether it could (little-endian only).
 */
export function installNativeBatchCipher(): boolean {
  if (!nativeXChaChaAvailable) return false;
  useBatchCipher(nativeXChaCha20Poly1305);
  return true;
}
