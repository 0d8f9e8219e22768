/**
 * BSN key backup: lock a patient master secret in a fuzzy vault of the patient's own
 * inter-pulse intervals, and evaluate how well that works on recorded signals
 * (docs/key-backup.md).
 */
export {
  GF_BITS,
  GF_SIZE,
  GF_ORDER,
  GF_MODULUS,
  GF_GENERATOR,
  isGfElement,
  gfAdd,
  gfMul,
  gfInv,
  gfDiv,
  gfPow,
  gfExp,
  gfLog,
  gfOrder,
  gfMulSlow,
} from './gf65536.js';
export * from './polynomial.js';
export * from './ipi-features.js';
export * from './fuzzy-vault.js';
export * from './evaluate.js';
export * from './beats/index.js';
export * from './key-backup.js';
export * from './recovery-code.js';
