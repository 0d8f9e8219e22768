/**
 * Measurement noise as a pure function of (key, sample time).
 *
 * A sequential generator would make a sample depend on how the stream had been cut into frames
 * and on which samples had been asked for before; hashing the time instead gives the same value
 * for a sample however and whenever it is requested, which is what keeps framed output equal to
 * one long call.
 */
import { fmix32 } from './prng.js';

const TWO_POW_32 = 4294967296;
// Sum of four uniform bytes: mean 4 × 127.5, variance 4 × (256² − 1) / 12.
const BYTE_SUM_MEAN = 510;
const BYTE_SUM_SD = Math.sqrt((4 * (256 * 256 - 1)) / 12);

/**
 * Approximately standard normal (Irwin–Hall of four bytes of one hash, bounded at ±3.45 SD).
 * Sensor noise needs the bell shape, not the tails, and this costs no log or trig per sample.
 * `tMs` is resolved to the microsecond; samples of one stream are always further apart.
 */
export function noiseAt(key: number, tMs: number): number {
  const us = Math.round(tMs * 1000);
  const lo = us >>> 0;
  const hi = Math.floor(us / TWO_POW_32) | 0;
  const h = fmix32(fmix32(key ^ lo) ^ Math.imul(hi, 0x27d4eb2f) ^ 0x165667b1);
  const sum = (h & 0xff) + ((h >>> 8) & 0xff) + ((h >>> 16) & 0xff) + (h >>> 24);
  return (sum - BYTE_SUM_MEAN) / BYTE_SUM_SD;
}
