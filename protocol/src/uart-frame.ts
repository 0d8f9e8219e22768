/**
 * UART firmware protocol v1: how a chest strap or patch talks to its hub over a serial line.
 *
 * On the wire every frame is COBS-encoded and ends with 0x00. Inside (all integers big-endian):
 *
 *   off  size  field
 *   0    1     protocol version = 1
 *   1    1     frame type (FRAME_TYPES)
 *   2    1     D = device id length (1..64)
 *   3    D     device id, ASCII
 *   .    4     sequence number (u32): the device's reading counter for readings, a per-sender counter otherwise
 *   .    8     device time, ms on the device's own clock (u64)
 *   .    n     body, by type (below)
 *   .    2     CRC-16/CCITT-FALSE over every byte before it
 *
 * Bodies:
 *   waveform (0x01)            u8 stream id, u16 rate Hz, u8 sample width (2 or 4), samples (signed)
 *   scalar (0x02)              u8 stream id, u8 n, n × (u8 component index, i8 exp10, i32 mantissa),
 *                              u8 r, r × (i8 exp10, i32 mantissa) RR intervals in ms
 *   status (0x10)              u8 battery % (0xFF unknown), u8 flags (bit0 lead-off, bit1 sensor
 *                              error, bit2 charging), u16 error code (0 none)
 *   time-sync request (0x20)   gateway → device: u64 gateway wall time t0 (ms)
 *   time-sync response (0x21)  device → gateway: u64 the t0 it answers; header device time = t1
 *
 * Component indexes follow the order of the stream's components in streams.ts.
 */
import crc16ccitt from 'crc/calculators/crc16ccitt';
import { cobsDecode, cobsEncode } from './cobs.js';
import { fromDecimal, toDecimal } from './decimal.js';
import { isValidId } from './ids.js';
import { fail, ok, type Result } from './reading.js';
import { STREAMS, streamById, type StreamName } from './streams.js';

export const UART_VERSION = 1;
/** Longest raw frame accepted; a receiver discards anything longer without buffering it. */
export const MAX_UART_FRAME_BYTES = 4096;

export const FRAME_TYPES = {
  waveform: 0x01,
  scalar: 0x02,
  status: 0x10,
  'time-sync-request': 0x20,
  'time-sync-response': 0x21,
} as const;
export type FrameTypeName = keyof typeof FRAME_TYPES;
const TYPE_BY_CODE = new Map<number, FrameTypeName>(Object.entries(FRAME_TYPES).map(([k, v]) => [v, k as FrameTypeName]));

interface FrameHead { deviceId: string; seq: number; deviceTime: number }
export type UartFrame =
  | (FrameHead & { type: 'waveform'; stream: StreamName; rate: number; samples: number[] })
  | (FrameHead & { type: 'scalar'; stream: StreamName; values: Record<string, number>; rr?: number[] })
  | (FrameHead & { type: 'status'; battery?: number; leadOff: boolean; sensorError: boolean; charging: boolean; errorCode: number })
  | (FrameHead & { type: 'time-sync-request'; gatewayTime: number })
  | (FrameHead & { type: 'time-sync-response'; gatewayTime: number });

export function crc16(bytes: Uint8Array): number {
  return crc16ccitt(bytes);
}

class Writer {
  private buf = new Uint8Array(64);
  private dv = new DataView(this.buf.buffer);
  len = 0;
  private room(n: number) {
    if (this.len + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    next.set(this.buf);
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }
  u8(v: number) { this.room(1); this.dv.setUint8(this.len, v); this.len += 1; }
  i8(v: number) { this.room(1); this.dv.setInt8(this.len, v); this.len += 1; }
  u16(v: number) { this.room(2); this.dv.setUint16(this.len, v); this.len += 2; }
  i16(v: number) { this.room(2); this.dv.setInt16(this.len, v); this.len += 2; }
  u32(v: number) { this.room(4); this.dv.setUint32(this.len, v); this.len += 4; }
  i32(v: number) { this.room(4); this.dv.setInt32(this.len, v); this.len += 4; }
  u64(v: number) { this.room(8); this.dv.setBigUint64(this.len, BigInt(v)); this.len += 8; }
  bytes(b: Uint8Array) { this.room(b.length); this.buf.set(b, this.len); this.len += b.length; }
  done(): Uint8Array { return this.buf.slice(0, this.len); }
}

class Reader {
  private readonly dv: DataView;
  o = 0;
  constructor(private readonly b: Uint8Array, private readonly end: number) {
    this.dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  left() { return this.end - this.o; }
  need(n: number, what: string) {
    if (this.o + n > this.end) throw new FrameError(`truncated frame: ${what} needs ${n} bytes at offset ${this.o}, ${this.end - this.o} left`);
  }
  u8(w: string) { this.need(1, w); return this.dv.getUint8(this.o++); }
  i8(w: string) { this.need(1, w); return this.dv.getInt8(this.o++); }
  u16(w: string) { this.need(2, w); const v = this.dv.getUint16(this.o); this.o += 2; return v; }
  i16(w: string) { this.need(2, w); const v = this.dv.getInt16(this.o); this.o += 2; return v; }
  u32(w: string) { this.need(4, w); const v = this.dv.getUint32(this.o); this.o += 4; return v; }
  i32(w: string) { this.need(4, w); const v = this.dv.getInt32(this.o); this.o += 4; return v; }
  u64(w: string) {
    this.need(8, w);
    const v = this.dv.getBigUint64(this.o);
    this.o += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new FrameError(`${w} exceeds 2^53`);
    return Number(v);
  }
  bytes(n: number, w: string) { this.need(n, w); const v = this.b.subarray(this.o, this.o + n); this.o += n; return v; }
}

/** Internal: lets the decoder bail out from deep inside; never escapes decodeFrameRaw. */
class FrameError extends Error {}

const ascii = new TextEncoder();
const asciiDec = new TextDecoder();

/** The raw frame (before COBS), CRC included. Throws on values the format cannot carry. */
export function encodeFrameRaw(f: UartFrame): Uint8Array {
  if (!isValidId(f.deviceId)) throw new Error(`invalid device id ${JSON.stringify(f.deviceId)}`);
  const w = new Writer();
  w.u8(UART_VERSION);
  w.u8(FRAME_TYPES[f.type]);
  const id = ascii.encode(f.deviceId);
  w.u8(id.length);
  w.bytes(id);
  w.u32(f.seq);
  w.u64(f.deviceTime);
  switch (f.type) {
    case 'waveform': {
      const spec = STREAMS[f.stream];
      if (spec.kind !== 'waveform') throw new Error(`${f.stream} is not a waveform stream`);
      if (!Number.isInteger(f.rate) || f.rate < 1 || f.rate > 0xffff) throw new Error('waveform rate must be an integer 1..65535 Hz on UART');
      const wide = f.samples.some((s) => s < -32768 || s > 32767);
      w.u8(spec.id);
      w.u16(f.rate);
      w.u8(wide ? 4 : 2);
      for (const s of f.samples) (wide ? w.i32(s) : w.i16(s));
      break;
    }
    case 'scalar': {
      const spec = STREAMS[f.stream];
      if (spec.kind !== 'scalar') throw new Error(`${f.stream} is not a scalar stream`);
      const names = Object.keys(spec.components);
      const entries = Object.entries(f.values);
      w.u8(spec.id);
      w.u8(entries.length);
      for (const [k, v] of entries) {
        const idx = names.indexOf(k);
        const d = toDecimal(v);
        if (idx < 0) throw new Error(`unknown component ${k} for ${f.stream}`);
        if (!d) throw new Error(`${k}=${v} has no exact i32×10^e form`);
        w.u8(idx); w.i8(d.exponent); w.i32(d.mantissa);
      }
      const rr = f.rr ?? [];
      w.u8(rr.length);
      for (const r of rr) {
        const d = toDecimal(r);
        if (!d) throw new Error(`rr ${r} has no exact i32×10^e form`);
        w.i8(d.exponent); w.i32(d.mantissa);
      }
      break;
    }
    case 'status':
      w.u8(f.battery ?? 0xff);
      w.u8((f.leadOff ? 1 : 0) | (f.sensorError ? 2 : 0) | (f.charging ? 4 : 0));
      w.u16(f.errorCode);
      break;
    case 'time-sync-request':
    case 'time-sync-response':
      w.u64(f.gatewayTime);
      break;
  }
  const body = w.done();
  if (body.length + 2 > MAX_UART_FRAME_BYTES) throw new Error(`frame of ${body.length + 2} bytes exceeds ${MAX_UART_FRAME_BYTES}`);
  const out = new Uint8Array(body.length + 2);
  out.set(body);
  new DataView(out.buffer).setUint16(body.length, crc16(body));
  return out;
}

/** The frame as sent on the wire: COBS-encoded, 0x00-terminated. */
export function encodeFrame(f: UartFrame): Uint8Array {
  return cobsEncode(encodeFrameRaw(f));
}

/** Decodes a raw (un-COBSed) frame. Never throws. */
export function decodeFrameRaw(raw: Uint8Array): Result<UartFrame> {
  if (raw.length > MAX_UART_FRAME_BYTES) return fail(`frame of ${raw.length} bytes exceeds ${MAX_UART_FRAME_BYTES}`);
  if (raw.length < 2 + 1 + 1 + 1 + 1 + 4 + 8) return fail(`frame of ${raw.length} bytes is shorter than the smallest header`);
  const end = raw.length - 2;
  const sent = (raw[end]! << 8) | raw[end + 1]!;
  const computed = crc16(raw.subarray(0, end));
  if (sent !== computed) return fail(`CRC mismatch: frame says 0x${sent.toString(16).padStart(4, '0')}, bytes give 0x${computed.toString(16).padStart(4, '0')}`);
  try {
    const r = new Reader(raw, end);
    const version = r.u8('version');
    if (version !== UART_VERSION) return fail(`unsupported UART protocol version ${version}`);
    const code = r.u8('type');
    const type = TYPE_BY_CODE.get(code);
    if (!type) return fail(`unknown frame type 0x${code.toString(16).padStart(2, '0')}`);
    const idLen = r.u8('device id length');
    const deviceId = asciiDec.decode(r.bytes(idLen, 'device id'));
    if (!isValidId(deviceId)) return fail('invalid device id');
    const head: FrameHead = { deviceId, seq: r.u32('seq'), deviceTime: r.u64('device time') };
    let frame: UartFrame;
    switch (type) {
      case 'waveform': {
        const spec = streamById(r.u8('stream id'));
        if (!spec || spec.kind !== 'waveform') return fail('waveform frame names a stream that is not a waveform');
        const rate = r.u16('rate');
        if (rate === 0) return fail('waveform rate is 0');
        const width = r.u8('sample width');
        if (width !== 2 && width !== 4) return fail(`sample width ${width} is not 2 or 4`);
        if (r.left() === 0 || r.left() % width !== 0) return fail(`${r.left()} sample bytes do not divide into ${width}-byte samples`);
        const n = r.left() / width;
        if (n % spec.channels.length !== 0) return fail(`${n} samples do not divide into ${spec.channels.length} channels`);
        const samples = new Array<number>(n);
        for (let i = 0; i < n; i++) samples[i] = width === 2 ? r.i16('sample') : r.i32('sample');
        frame = { ...head, type, stream: spec.name, rate, samples };
        break;
      }
      case 'scalar': {
        const spec = streamById(r.u8('stream id'));
        if (!spec || spec.kind !== 'scalar') return fail('scalar frame names a stream that is not scalar');
        const names = Object.keys(spec.components);
        const n = r.u8('component count');
        const values: Record<string, number> = {};
        for (let i = 0; i < n; i++) {
          const idx = r.u8('component index');
          const name = names[idx];
          if (name === undefined) return fail(`component index ${idx} is not defined for ${spec.name}`);
          if (name in values) return fail(`component ${name} appears twice`);
          const exponent = r.i8('exponent');
          values[name] = fromDecimal({ exponent, mantissa: r.i32('mantissa') });
        }
        const nrr = r.u8('rr count');
        const rr: number[] = [];
        for (let i = 0; i < nrr; i++) {
          const exponent = r.i8('rr exponent');
          rr.push(fromDecimal({ exponent, mantissa: r.i32('rr mantissa') }));
        }
        frame = { ...head, type, stream: spec.name, values, ...(nrr ? { rr } : {}) };
        break;
      }
      case 'status': {
        const battery = r.u8('battery');
        const flags = r.u8('flags');
        if (battery !== 0xff && battery > 100) return fail(`battery ${battery}% is not 0..100 or 255 (unknown)`);
        frame = { ...head, type, ...(battery === 0xff ? {} : { battery }), leadOff: (flags & 1) !== 0, sensorError: (flags & 2) !== 0, charging: (flags & 4) !== 0, errorCode: r.u16('error code') };
        break;
      }
      default:
        frame = { ...head, type, gatewayTime: r.u64('gateway time') };
    }
    if (r.left() !== 0) return fail(`${r.left()} unexpected bytes after the ${type} body`);
    return ok(frame);
  } catch (e) {
    if (e instanceof FrameError) return fail(e.message);
    return fail(`malformed frame: ${(e as Error).message}`);
  }
}

/** Decodes one wire frame (COBS, without or with its 0x00). Never throws. */
export function decodeFrame(encoded: Uint8Array): Result<UartFrame> {
  const raw = cobsDecode(encoded);
  return raw.ok ? decodeFrameRaw(raw.value) : raw;
}
