/**
 * Encoders for the characteristic values a simulated BLE device notifies. They write the same
 * bytes real devices do (the decoders' vectors round-trip through them), and each returns the
 * reading the bytes actually carry, after the wire's quantisation (integer bpm, 1/1024 s RR,
 * SFLOAT's 12-bit mantissa), so a simulator can log exactly what a receiver may expect.
 */
import type { ReadingBody } from '@vitalgate/protocol';

export interface EncodedMeasurement {
  characteristic: string;
  bytes: Uint8Array;
  /** The values as the receiver will decode them. */
  values: Record<string, number>;
  rr?: number[];
}

/** IEEE-11073 16-bit SFLOAT: the value to at most `decimals` places, mantissa within ±2045. */
export function encodeSfloat(v: number, decimals: number): { word: number; value: number } {
  for (let e = -decimals; e <= 7; e++) {
    const m = Math.round(v / 10 ** e);
    if (m >= -2045 && m <= 2045) {
      const value = e < 0 ? m / 10 ** -e : m * 10 ** e;
      return { word: ((e & 0x0f) << 12) | (m & 0x0fff), value };
    }
  }
  throw new RangeError(`${v} does not fit an SFLOAT`);
}

/** IEEE-11073 32-bit FLOAT with `decimals` places. */
export function encodeFloat(v: number, decimals: number): { word: number; value: number } {
  const m = Math.round(v * 10 ** decimals);
  if (m < -8388605 || m > 8388605) throw new RangeError(`${v} does not fit a FLOAT at ${decimals} decimals`);
  return { word: (((-decimals) & 0xff) << 24 | (m & 0xffffff)) >>> 0, value: m / 10 ** decimals };
}

class Bytes {
  readonly b: number[] = [];
  u8(v: number) { this.b.push(v & 0xff); return this; }
  u16(v: number) { this.b.push(v & 0xff, (v >> 8) & 0xff); return this; }
  u32(v: number) { this.u16(v & 0xffff); return this.u16(v >>> 16); }
  done() { return Uint8Array.from(this.b); }
}

/** Heart Rate Measurement (0x2A37): contact detected, RR intervals when given. */
export function encodeHeartRate(hr: number, rrMs: readonly number[] = []): EncodedMeasurement {
  const bpm = Math.round(hr);
  const rr1024 = rrMs.slice(0, 9).map((ms) => Math.min(0xffff, Math.max(1, Math.round((ms * 1024) / 1000))));
  const wide = bpm > 255;
  const w = new Bytes().u8((wide ? 0x01 : 0) | 0x06 | (rr1024.length ? 0x10 : 0));
  if (wide) w.u16(bpm); else w.u8(bpm);
  for (const r of rr1024) w.u16(r);
  return { characteristic: '2a37', bytes: w.done(), values: { hr: bpm }, ...(rr1024.length ? { rr: rr1024.map((r) => (r * 1000) / 1024) } : {}) };
}

/** Temperature Measurement (0x2A1C) in Celsius, 0.01 °C resolution, no timestamp or type. */
export function encodeTemperature(cel: number): EncodedMeasurement {
  const f = encodeFloat(cel, 2);
  return { characteristic: '2a1c', bytes: new Bytes().u8(0x00).u32(f.word).done(), values: { temp: f.value } };
}

/** PLX Continuous Measurement (0x2A5F): SpO2 and pulse rate (normal), 0.1 resolution. */
export function encodePlxContinuous(spo2: number, pr: number): EncodedMeasurement {
  const s = encodeSfloat(spo2, 1);
  const p = encodeSfloat(pr, 1);
  return { characteristic: '2a5f', bytes: new Bytes().u8(0x00).u16(s.word).u16(p.word).done(), values: { spo2: s.value, pr: p.value } };
}

/** Blood Pressure Measurement (0x2A35) in mmHg, with pulse rate. */
export function encodeBloodPressure(sys: number, dia: number, map: number, pr?: number): EncodedMeasurement {
  const [a, b, c] = [encodeSfloat(sys, 1), encodeSfloat(dia, 1), encodeSfloat(map, 1)];
  const w = new Bytes().u8(pr === undefined ? 0x00 : 0x04).u16(a.word).u16(b.word).u16(c.word);
  const values: Record<string, number> = { sys: a.value, dia: b.value, map: c.value };
  if (pr !== undefined) {
    const p = encodeSfloat(pr, 1);
    w.u16(p.word);
    values.pr = p.value;
  }
  return { characteristic: '2a35', bytes: w.done(), values };
}

/** Glucose Measurement (0x2A18): capillary whole blood, finger, concentration in kg/L. */
export function encodeGlucose(seq: number, at: Date, mgPerDl: number): EncodedMeasurement {
  // mg/dL × 1e-5 = kg/L; an SFLOAT with exponent −5 keeps whole mg/dL exactly.
  const m = Math.round(mgPerDl);
  if (m < 0 || m > 2045) throw new RangeError(`glucose ${mgPerDl} mg/dL does not fit`);
  const w = new Bytes().u8(0x02).u16(seq & 0xffff)
    .u16(at.getUTCFullYear()).u8(at.getUTCMonth() + 1).u8(at.getUTCDate()).u8(at.getUTCHours()).u8(at.getUTCMinutes()).u8(at.getUTCSeconds())
    .u16(((-5 & 0x0f) << 12) | m)
    .u8((0x1 << 4) | 0x1); // sample location 1 (finger), type 1 (capillary whole blood)
  return { characteristic: '2a18', bytes: w.done(), values: { glucose: m } };
}

/** The GATT measurement a simulated device sends for a reading, or undefined for streams GATT has no characteristic for. */
export function encodeReadingAsGatt(stream: string, body: ReadingBody): EncodedMeasurement | undefined {
  if (!('values' in body)) return undefined;
  const v = body.values;
  switch (stream) {
    case 'hr': return encodeHeartRate(v.hr!, body.rr ?? []);
    case 'temp': return encodeTemperature(v.temp!);
    case 'spo2': return encodePlxContinuous(v.spo2!, v.pr ?? 0);
    case 'bp': return encodeBloodPressure(v.sys!, v.dia!, v.map ?? Math.round(v.dia! + (v.sys! - v.dia!) / 3), v.pr);
    case 'glucose': return encodeGlucose(body.seq, new Date(body.ts), v.glucose!);
    default: return undefined;
  }
}
