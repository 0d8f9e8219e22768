/**
 * Consistent Overhead Byte Stuffing (Cheshire & Baker, 1999): removes every 0x00 from a frame so
 * that 0x00 can delimit frames on a byte stream. A receiver that lost sync skips to the next 0x00
 * and is aligned again, which is what makes a noisy UART link recoverable.
 */
import { fail, ok, type Result } from './reading.js';

/** Encodes `raw` and appends the 0x00 delimiter. Overhead: 1 byte per 254, plus the delimiter. */
export function cobsEncode(raw: Uint8Array): Uint8Array {
  const out = new Uint8Array(raw.length + Math.ceil((raw.length + 1) / 254) + 1);
  let codeAt = 0;
  let o = 1;
  let code = 1;
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i]!;
    if (b === 0) {
      out[codeAt] = code;
      codeAt = o++;
      code = 1;
      continue;
    }
    out[o++] = b;
    if (++code === 0xff) {
      out[codeAt] = code;
      code = 1;
      // A full block at the very end needs no further code byte (Cheshire & Baker's rule).
      codeAt = i + 1 < raw.length ? o++ : -1;
    }
  }
  if (codeAt >= 0) out[codeAt] = code;
  out[o++] = 0;
  return out.subarray(0, o);
}

/**
 * Decodes one frame without its trailing delimiter (a trailing 0x00 is tolerated).
 * Never throws: a zero inside the frame or a code that runs past the end is a reason.
 */
export function cobsDecode(enc: Uint8Array): Result<Uint8Array> {
  let end = enc.length;
  if (end > 0 && enc[end - 1] === 0) end--;
  if (end === 0) return fail('empty COBS frame');
  const out = new Uint8Array(end);
  let o = 0;
  let i = 0;
  while (i < end) {
    const code = enc[i]!;
    if (code === 0) return fail(`COBS: unexpected 0x00 at offset ${i}`);
    if (i + code > end) return fail(`COBS: block at offset ${i} runs past the end of the frame`);
    for (let k = 1; k < code; k++) {
      const b = enc[i + k]!;
      if (b === 0) return fail(`COBS: unexpected 0x00 at offset ${i + k}`);
      out[o++] = b;
    }
    i += code;
    if (code !== 0xff && i < end) out[o++] = 0;
  }
  return ok(out.subarray(0, o));
}
