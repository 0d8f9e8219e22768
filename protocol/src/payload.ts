/**
 * Reading payload encodings accepted on the wire.
 *
 * - JSON: what any device, script or MQTT tool can produce.
 * - CBOR (RFC 8949): the compact binary form. Chosen because it is an IETF standard with small,
 *   audited libraries for microcontrollers (tinycbor, QCBOR, nanocbor), is self-describing (no schema
 *   to keep in step between firmware and gateway), and stores our integer samples in 1–5 bytes each
 *   instead of their decimal digits plus a comma. An ECG frame of 25 µV samples is about half
 *   its JSON size.
 *
 * MQTT 3.1.1 has no content type, so the encoding is told apart by the first byte: a JSON body is an
 * object and starts with '{' (after optional whitespace); a CBOR body is a map, major type 5
 * (0xA0–0xBB, or 0xBF indefinite, which we refuse). The two ranges do not overlap.
 */
import { decode as cborDecode, encode as cborEncode } from 'cborg';
import { fail, validateBody, type ReadingBody, type Result } from './reading.js';
import type { StreamName } from './streams.js';

export type PayloadEncoding = 'json' | 'cbor';

/** Larger payloads are refused before parsing, so a hostile message cannot make us allocate. */
export const MAX_PAYLOAD_BYTES = 256 * 1024;

const CBOR_DECODE_OPTIONS = {
  strict: true,
  rejectDuplicateMapKeys: true,
  useMaps: false,
  allowIndefinite: false,
  allowUndefined: false,
  allowInfinity: false,
  allowNaN: false,
  allowBigInt: false,
} as const;

const textDecoder = new TextDecoder('utf-8', { fatal: true });
const textEncoder = new TextEncoder();

export function encodeBody(body: ReadingBody, encoding: PayloadEncoding = 'json'): Uint8Array {
  return encoding === 'json' ? textEncoder.encode(JSON.stringify(body)) : cborEncode(body);
}

export function sniffEncoding(bytes: Uint8Array): PayloadEncoding | undefined {
  for (const b of bytes) {
    if (b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d) continue;
    if (b === 0x7b) return 'json';
    if (b >= 0xa0 && b <= 0xbb) return 'cbor';
    return undefined;
  }
  return undefined;
}

/** Generic CBOR decoding with the strict options above; never throws. */
export function decodeCbor(bytes: Uint8Array): Result<unknown> {
  try {
    return { ok: true, value: cborDecode(bytes, CBOR_DECODE_OPTIONS) };
  } catch (e) {
    // The decoder's message can quote the decoded data, which is a reading: keep only the class.
    return fail('malformed CBOR');
  }
}

export function encodeCbor(value: unknown): Uint8Array {
  return cborEncode(value);
}

/**
 * The CBOR array of `bodies` (a batch's plaintext), taking each body's bytes as the device sent them
 * where `asReceived[i]` has them, and encoding the rest. The same bytes as `encodeCbor(bodies)` when
 * every device encodes as we do (a definite-length array is its head followed by its items).
 *
 * `asReceived[i]` must be the very payload decodePayload accepted as 'cbor' for `bodies[i]`. That
 * makes it safe to pass on: the strict decode left exactly one definite-length map with minimal
 * integers, no duplicate keys, tags, indefinite lengths, NaN or infinities, and validation refused
 * unknown fields and out-of-range values; a reader decodes it to the same body, whatever decoder it
 * uses. What may differ from our own encoding is only the order of map keys and the width of a
 * number. Re-encoding every reading was the gateway's largest single cost under load (`npm run
 * bench`, saturation profile).
 */
export function encodeBodies(bodies: readonly ReadingBody[], asReceived?: ReadonlyArray<Uint8Array | undefined>): Uint8Array {
  if (!asReceived) return cborEncode(bodies);
  const n = bodies.length;
  const items: Uint8Array[] = new Array(n);
  let size = 0;
  for (let i = 0; i < n; i++) {
    const item = asReceived[i] ?? cborEncode(bodies[i]);
    items[i] = item;
    size += item.length;
  }
  const head = arrayHead(n);
  const out = new Uint8Array(head.length + size);
  out.set(head, 0);
  let o = head.length;
  for (const item of items) {
    out.set(item, o);
    o += item.length;
  }
  return out;
}

/** The head of a definite-length CBOR array of n items, in its shortest form (RFC 8949 §3, major type 4). */
function arrayHead(n: number): Uint8Array {
  if (n < 24) return Uint8Array.of(0x80 | n);
  if (n < 0x100) return Uint8Array.of(0x98, n);
  if (n < 0x10000) return Uint8Array.of(0x99, n >>> 8, n & 0xff);
  if (n <= 0xffffffff) return Uint8Array.of(0x9a, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
  throw new RangeError(`an array of ${n} items is beyond a batch`);
}

/** Decodes and validates one untrusted payload. Never throws: every failure is a reason. */
export function decodePayload(stream: StreamName, bytes: Uint8Array): Result<{ body: ReadingBody; encoding: PayloadEncoding }> {
  if (bytes.length === 0) return fail('empty payload');
  if (bytes.length > MAX_PAYLOAD_BYTES) return fail(`payload of ${bytes.length} bytes exceeds ${MAX_PAYLOAD_BYTES}`);
  const encoding = sniffEncoding(bytes);
  if (!encoding) return fail('payload is neither a JSON object nor a CBOR map');
  let raw: unknown;
  if (encoding === 'json') {
    try {
      raw = JSON.parse(textDecoder.decode(bytes));
    } catch (e) {
      // V8's message quotes the text around the error, which is a reading: keep only the position.
      const at = /position (\d+)/.exec((e as Error).message)?.[1];
      return fail(at ? `malformed JSON at byte ${at}` : 'malformed JSON');
    }
  } else {
    const r = decodeCbor(bytes);
    if (!r.ok) return r;
    raw = r.value;
  }
  const v = validateBody(stream, raw);
  return v.ok ? { ok: true, value: { body: v.value, encoding } } : v;
}
