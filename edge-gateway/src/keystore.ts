/**
 * Kept only for `bsn/` (issue 14 moves it out into its own package): the keystore lives in
 * keys/keystore.ts. Remove once nothing here imports it.
 */
export { DEFAULT_SCRYPT, Keystore, type ScryptParams } from './keys/keystore.js';
