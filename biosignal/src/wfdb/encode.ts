import { WfdbError } from './errors.js';
import { assertSupportedFormat, bytesForSamples, storedValueRange } from './formats.js';

/**
 * Test helper (not exported from the package entry): the inverse of decodeWfdbSamples. Encodes an
 * interleaved stream of stored values (for format 8: the differences) the way WFDB writes it,
 * including a partial final group for the bit-packed formats. Throws WfdbError for a value the
 * format cannot hold.
 */
export function encodeWfdbSamples(format: number, values: ArrayLike<number>): Uint8Array {
  assertSupportedFormat(format);
  const { min, max } = storedValueRange(format);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isInteger(v) || v < min || v > max) {
      throw new WfdbError(`format ${format} cannot store value ${v} (sample ${i}; range ${min}..${max})`);
    }
  }
  const n = values.length;
  const out = new Uint8Array(bytesForSamples(format, n));
  const v = (i: number): number => values[i] ?? 0;
  switch (format) {
    case 8:
      for (let i = 0; i < n; i++) out[i] = v(i) & 0xff;
      break;
    case 80:
      for (let i = 0; i < n; i++) out[i] = v(i) + 128;
      break;
    case 16:
      for (let i = 0; i < n; i++) (out[2 * i] = v(i) & 0xff), (out[2 * i + 1] = (v(i) >> 8) & 0xff);
      break;
    case 61:
      for (let i = 0; i < n; i++) (out[2 * i] = (v(i) >> 8) & 0xff), (out[2 * i + 1] = v(i) & 0xff);
      break;
    case 160:
      for (let i = 0; i < n; i++) {
        const u = v(i) + 32768;
        out[2 * i] = u & 0xff;
        out[2 * i + 1] = u >> 8;
      }
      break;
    case 24:
      for (let i = 0; i < n; i++) for (let k = 0; k < 3; k++) out[3 * i + k] = (v(i) >> (8 * k)) & 0xff;
      break;
    case 32:
      for (let i = 0; i < n; i++) for (let k = 0; k < 4; k++) out[4 * i + k] = (v(i) >> (8 * k)) & 0xff;
      break;
    case 212:
      for (let i = 0, p = 0; i < n; i += 2, p += 3) {
        const a = v(i);
        out[p] = a & 0xff;
        out[p + 1] = ((a >> 8) & 0x0f) | (i + 1 < n ? (v(i + 1) >> 4) & 0xf0 : 0);
        if (i + 1 < n) out[p + 2] = v(i + 1) & 0xff;
      }
      break;
    case 310:
    case 311:
      for (let i = 0, p = 0; i < n; i += 3, p += 4) {
        const has1 = i + 1 < n;
        const has2 = i + 2 < n;
        const a = v(i) & 0x3ff;
        const b = has1 ? v(i + 1) & 0x3ff : 0;
        const c = has2 ? v(i + 2) & 0x3ff : 0;
        let w0: number;
        let w1: number;
        if (format === 310) {
          w0 = (a << 1) | ((c & 0x1f) << 11);
          w1 = (b << 1) | ((c >> 5) << 11);
        } else {
          const word = a | (b << 10) | (c << 20);
          w0 = word & 0xffff;
          w1 = word >>> 16;
        }
        out[p] = w0 & 0xff;
        out[p + 1] = (w0 >> 8) & 0xff;
        if (has1) {
          out[p + 2] = w1 & 0xff;
          out[p + 3] = (w1 >> 8) & 0xff;
        }
      }
      break;
  }
  return out;
}
