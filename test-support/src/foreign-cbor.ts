/**
 * Reading payloads in CBOR as firmware other than ours may write them: valid under the protocol's
 * strict decoding, but not byte for byte what the protocol's own encoder writes. Tests use them to
 * show that such a reading is taken, sealed as it came, and opened to the very body validated.
 */
const te = new TextEncoder();

/**
 * {values: {hr: 71.5 as a float64}, rr: [840.5 as a float64], ts, seq}: valid, but not how we encode
 * (our keys go shortest first, and 71.5 fits a float16), as other firmware may well send it.
 */
export function foreignCborHr(seq: number, ts: number): Uint8Array {
  const out: number[] = [0xa4];
  const text = (s: string) => out.push(0x60 | s.length, ...te.encode(s));
  const f64 = (v: number) => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v);
    out.push(0xfb, ...b);
  };
  text('values'); out.push(0xa1); text('hr'); f64(71.5);
  text('rr'); out.push(0x81); f64(840.5);
  // Integers in their shortest form, as strict decoding asks: ts needs 8 bytes, seq fewer.
  const uint = (v: number) => {
    if (v < 24) return out.push(v);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(v));
    const n = v < 0x100 ? 1 : v < 0x10000 ? 2 : v <= 0xffffffff ? 4 : 8;
    return out.push(0x18 + Math.log2(n), ...b.subarray(8 - n));
  };
  text('ts'); uint(ts);
  text('seq'); uint(seq);
  return Uint8Array.from(out);
}
