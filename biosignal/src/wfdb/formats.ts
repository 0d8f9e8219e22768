import { WfdbError } from './errors.js';

/**
 * Signal storage formats this reader decodes (see PhysioNet signal(5)):
 * -   8: 8-bit first differences (signed bytes; each sample is the previous one plus the byte)
 * -  16: 16-bit two's complement, little-endian
 * -  24: 24-bit two's complement, little-endian
 * -  32: 32-bit two's complement, little-endian
 * -  61: 16-bit two's complement, big-endian
 * -  80: 8-bit offset binary (stored byte minus 128)
 * - 160: 16-bit offset binary, little-endian (stored word minus 32768)
 * - 212: two 12-bit two's complement samples in 3 bytes
 * - 310: three 10-bit samples in two little-endian 16-bit words (bits 1-10 of each word, the
 *        third sample split over the top 5 bits of both words)
 * - 311: three 10-bit samples in the low 30 bits of a little-endian 32-bit word
 * Format 0 (null signals) and the FLAC formats (508, 516, 524) are not supported.
 */
export const SUPPORTED_FORMATS = [8, 16, 24, 32, 61, 80, 160, 212, 310, 311] as const;
export type WfdbFormat = (typeof SUPPORTED_FORMATS)[number];

export function isSupportedFormat(format: number): format is WfdbFormat {
  return (SUPPORTED_FORMATS as readonly number[]).includes(format);
}

/** Throws WfdbError "format N is not supported (supported: ...)", after `prefix` when given. */
export function assertSupportedFormat(format: number, prefix = '', where: { file?: string; line?: number } = {}): asserts format is WfdbFormat {
  if (!isSupportedFormat(format)) {
    throw new WfdbError(`${prefix}format ${format} is not supported (supported: ${SUPPORTED_FORMATS.join(', ')})`, where);
  }
}

/**
 * The value that marks a missing or invalid sample, as WFDB writes it in each format. For format
 * 8 (differences cannot be invalid) this is WFDB_INVALID_SAMPLE, -32768, which the reader also
 * uses to pad signals shifted by a skew.
 */
export function invalidSampleValue(format: WfdbFormat): number {
  switch (format) {
    case 80:
      return -128;
    case 212:
      return -2048;
    case 310:
    case 311:
      return -512;
    case 24:
      return -(2 ** 23);
    case 32:
      return -(2 ** 31);
    case 8:
    case 16:
    case 61:
    case 160:
      return -32768;
  }
}

/** Inclusive range of the values one stored sample can hold (for format 8: one difference). */
export function storedValueRange(format: WfdbFormat): { min: number; max: number } {
  switch (format) {
    case 8:
    case 80:
      return { min: -128, max: 127 };
    case 16:
    case 61:
    case 160:
      return { min: -32768, max: 32767 };
    case 24:
      return { min: -(2 ** 23), max: 2 ** 23 - 1 };
    case 32:
      return { min: -(2 ** 31), max: 2 ** 31 - 1 };
    case 212:
      return { min: -2048, max: 2047 };
    case 310:
    case 311:
      return { min: -512, max: 511 };
  }
}

/** Bytes needed to hold `count` consecutive samples (the last group of a bit-packed format may be partial). */
export function bytesForSamples(format: WfdbFormat, count: number): number {
  switch (format) {
    case 8:
    case 80:
      return count;
    case 16:
    case 61:
    case 160:
      return 2 * count;
    case 24:
      return 3 * count;
    case 32:
      return 4 * count;
    case 212:
      // A trailing odd sample takes 2 bytes (its 12 bits, plus the shared nibble byte).
      return 3 * Math.floor(count / 2) + (count % 2 === 1 ? 2 : 0);
    case 310:
    case 311:
      // Groups of three samples in 4 bytes; a partial group takes one 16-bit word per sample.
      return 4 * Math.floor(count / 3) + 2 * (count % 3);
  }
}

/** How many whole samples `nbytes` bytes hold (the inverse of bytesForSamples, rounding down). */
export function samplesInBytes(format: WfdbFormat, nbytes: number): number {
  switch (format) {
    case 8:
    case 80:
      return nbytes;
    case 16:
    case 61:
    case 160:
      return Math.floor(nbytes / 2);
    case 24:
      return Math.floor(nbytes / 3);
    case 32:
      return Math.floor(nbytes / 4);
    case 212:
      return 2 * Math.floor(nbytes / 3) + (nbytes % 3 === 2 ? 1 : 0);
    case 310:
    case 311:
      return 3 * Math.floor(nbytes / 4) + Math.floor((nbytes % 4) / 2);
  }
}

/**
 * Decodes the first `count` samples of an interleaved sample stream. Pure: `bytes` starts at the
 * first sample (any byte offset already skipped). Values are returned exactly as stored, including
 * invalid-sample markers; for format 8 the values are the signed first differences, which
 * readWfdbRecord integrates per signal from the header's initial value.
 *
 * Throws WfdbError for an unsupported format, a bad count, or too few bytes.
 */
export function decodeWfdbSamples(format: number, bytes: Uint8Array, count: number): Int32Array {
  assertSupportedFormat(format);
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new WfdbError(`sample count must be a non-negative integer, got ${String(count)}`);
  }
  const needed = bytesForSamples(format, count);
  if (bytes.length < needed) {
    throw new WfdbError(`format ${format}: ${count} samples need ${needed} bytes, only ${bytes.length} available`);
  }
  const out = new Int32Array(count);
  const b = bytes;
  switch (format) {
    case 8:
      for (let i = 0; i < count; i++) out[i] = (b[i]! << 24) >> 24;
      break;
    case 80:
      for (let i = 0; i < count; i++) out[i] = b[i]! - 128;
      break;
    case 16:
      for (let i = 0, p = 0; i < count; i++, p += 2) out[i] = ((b[p]! | (b[p + 1]! << 8)) << 16) >> 16;
      break;
    case 61:
      for (let i = 0, p = 0; i < count; i++, p += 2) out[i] = (((b[p]! << 8) | b[p + 1]!) << 16) >> 16;
      break;
    case 160:
      for (let i = 0, p = 0; i < count; i++, p += 2) out[i] = (b[p]! | (b[p + 1]! << 8)) - 32768;
      break;
    case 24:
      for (let i = 0, p = 0; i < count; i++, p += 3) out[i] = ((b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16)) << 8) >> 8;
      break;
    case 32:
      for (let i = 0, p = 0; i < count; i++, p += 4) out[i] = b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24);
      break;
    case 212:
      for (let i = 0, p = 0; i < count; i += 2, p += 3) {
        const mid = b[p + 1]!;
        out[i] = ((b[p]! | ((mid & 0x0f) << 8)) << 20) >> 20;
        if (i + 1 < count) out[i + 1] = ((b[p + 2]! | ((mid & 0xf0) << 4)) << 20) >> 20;
      }
      break;
    case 310:
      for (let i = 0, p = 0; i < count; i += 3, p += 4) {
        const w0 = b[p]! | (b[p + 1]! << 8);
        out[i] = ((w0 >> 1) << 22) >> 22;
        if (i + 1 >= count) break;
        const w1 = b[p + 2]! | (b[p + 3]! << 8);
        out[i + 1] = ((w1 >> 1) << 22) >> 22;
        if (i + 2 >= count) break;
        out[i + 2] = ((((w0 & 0xf800) >> 11) | ((w1 & 0xf800) >> 6)) << 22) >> 22;
      }
      break;
    case 311:
      for (let i = 0, p = 0; i < count; i += 3, p += 4) {
        const w0 = b[p]! | (b[p + 1]! << 8);
        out[i] = (w0 << 22) >> 22;
        if (i + 1 >= count) break;
        const w1 = b[p + 2]! | (b[p + 3]! << 8);
        out[i + 1] = ((((w0 & 0xfc00) >> 10) | ((w1 & 0x0f) << 6)) << 22) >> 22;
        if (i + 2 >= count) break;
        out[i + 2] = ((w1 >> 4) << 22) >> 22;
      }
      break;
  }
  return out;
}
