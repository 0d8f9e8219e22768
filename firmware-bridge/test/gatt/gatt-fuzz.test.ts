/**
 * Property tests for the GATT decoders: arbitrary and mutated bytes never throw and return fast;
 * values built field by field by the small test-only encoders below decode back to what was
 * encoded; and whatever decodes maps to reading bodies that protocol accepts.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';
import { validateBody } from '@vitalgate/protocol';
import {
  decodeFloat, decodeGatt, decodeSfloat, GATT_CHARACTERISTICS, GLUCOSE_SAMPLE_LOCATIONS, GLUCOSE_TYPES,
  gattToReadings, TEMPERATURE_TYPES, type GattMeasurement, type MeasuredValue,
} from '../../src/gatt/index.js';

const UUIDS = Object.keys(GATT_CHARACTERISTICS);

// ---------------------------------------------------------------------------------------------
// test-only encoders

class Enc {
  readonly bytes: number[] = [];
  u8(v: number): this { this.bytes.push(v & 0xff); return this; }
  u16(v: number): this { return this.u8(v).u8(v >> 8); }
  u24(v: number): this { return this.u16(v).u8(v >> 16); }
  done(): Uint8Array { return Uint8Array.from(this.bytes); }
}

/** m × 10^e as a plain decimal literal: an independent route to the value a decoder must give. */
function decimalLiteral(m: number, e: number): number {
  const sign = m < 0 ? '-' : '';
  const digits = String(Math.abs(m)).padStart(Math.max(1, -e + 1), '0');
  if (e >= 0) return Number(`${sign}${digits}${'0'.repeat(e)}`);
  return Number(`${sign}${digits.slice(0, digits.length + e)}.${digits.slice(digits.length + e)}`);
}

/** A field generator yields the bytes to append and the value the decoder should report. */
interface Field<T> { put: (e: Enc) => void; value: T }

const SFLOAT_SPECIALS: Array<[number, string]> = [[0x07ff, 'nan'], [0x0800, 'nres'], [0x07fe, 'positive-infinity'], [0x0802, 'negative-infinity'], [0x0801, 'reserved']];
const FLOAT_SPECIALS: Array<[number, string]> = [[0x007fffff, 'nan'], [0x00800000, 'nres'], [0x007ffffe, 'positive-infinity'], [0x00800002, 'negative-infinity'], [0x00800001, 'reserved']];

const sfloatField: fc.Arbitrary<Field<MeasuredValue>> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ m: fc.integer({ min: -2045, max: 2045 }), e: fc.integer({ min: -8, max: 7 }) }).map(({ m, e }) => ({
    put: (x: Enc) => { x.u16(((e & 0x0f) << 12) | (m & 0x0fff)); },
    value: decimalLiteral(m, e) as MeasuredValue,
  })) },
  { weight: 1, arbitrary: fc.constantFrom(...SFLOAT_SPECIALS).map(([w, reason]) => ({
    put: (x: Enc) => { x.u16(w); },
    value: { absent: reason } as MeasuredValue,
  })) },
);

const floatField: fc.Arbitrary<Field<MeasuredValue>> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ m: fc.integer({ min: -8388605, max: 8388605 }), e: fc.integer({ min: -128, max: 127 }) }).map(({ m, e }) => ({
    put: (x: Enc) => { x.u16(m & 0xffff).u8((m >> 16) & 0xff).u8(e); },
    value: decimalLiteral(m, e) as MeasuredValue,
  })) },
  { weight: 1, arbitrary: fc.constantFrom(...FLOAT_SPECIALS).map(([w, reason]) => ({
    put: (x: Enc) => { x.u24(w).u8(0); },
    value: { absent: reason } as MeasuredValue,
  })) },
);

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** Complete dates in 2000–2099 (day ≤ 28 keeps every month valid), or a stamp with unknown parts. */
const dateTimeField: fc.Arbitrary<Field<unknown> & { ms?: number }> = fc.oneof(
  fc.record({
    y: fc.integer({ min: 2000, max: 2099 }), mo: fc.integer({ min: 1, max: 12 }), d: fc.integer({ min: 1, max: 28 }),
    h: fc.integer({ min: 0, max: 23 }), mi: fc.integer({ min: 0, max: 59 }), s: fc.integer({ min: 0, max: 59 }),
  }).map(({ y, mo, d, h, mi, s }) => ({
    put: (x: Enc) => { x.u16(y).u8(mo).u8(d).u8(h).u8(mi).u8(s); },
    value: `${y}-${pad(mo)}-${pad(d)}T${pad(h)}:${pad(mi)}:${pad(s)}`,
    ms: Date.UTC(y, mo - 1, d, h, mi, s),
  })),
  fc.record({
    year: fc.constantFrom(0, 2024), month: fc.integer({ min: 0, max: 12 }), day: fc.integer({ min: 0, max: 28 }),
    hours: fc.integer({ min: 0, max: 23 }), minutes: fc.integer({ min: 0, max: 59 }), seconds: fc.integer({ min: 0, max: 59 }),
  }).filter((p) => p.year === 0 || p.month === 0 || p.day === 0).map((p) => ({
    put: (x: Enc) => { x.u16(p.year).u8(p.month).u8(p.day).u8(p.hours).u8(p.minutes).u8(p.seconds); },
    value: { absent: 'not-known', parts: { ...p } },
  })),
);

const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u24 = fc.integer({ min: 0, max: 0xffffff });
const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
/** RFU flag bits: the decoders must ignore them. */
const rfu = (mask: number) => fc.integer({ min: 0, max: 0xff }).map((v) => v & mask);

/** Derived fields (names of status bits, …) are checked by unit tests, not re-derived here. */
const DERIVED = new Set([
  'measurementStatusFlags', 'pulseRateRange', 'deviceAndSensorStatusFlags', 'sensorStatusFlags',
]);

interface Case { uuid: string; bytes: Uint8Array; expect: Record<string, unknown> }

const heartRateCase: fc.Arbitrary<Case> = fc.record({
  wide: fc.boolean(), hr: u16, contact: fc.integer({ min: 0, max: 3 }), ee: opt(u16),
  rr: opt(fc.array(u16, { minLength: 1, maxLength: 20 })), rfu: rfu(0xe0),
}).map(({ wide, hr, contact, ee, rr, rfu: r }) => {
  const flags = (wide ? 1 : 0) | (contact << 1) | (ee !== undefined ? 0x08 : 0) | (rr !== undefined ? 0x10 : 0) | r;
  const e = new Enc().u8(flags);
  const heartRate = wide ? hr : hr & 0xff;
  if (wide) e.u16(heartRate); else e.u8(heartRate);
  const expect: Record<string, unknown> = { kind: 'heart-rate', flags, heartRate, contactSupported: contact >= 2 };
  if (contact >= 2) expect.contactDetected = contact === 3;
  if (ee !== undefined) { e.u16(ee); expect.energyExpended = ee; }
  if (rr !== undefined) { rr.forEach((v) => e.u16(v)); expect.rrIntervals1024 = rr; }
  return { uuid: '2a37', bytes: e.done(), expect };
});

const temperatureCase: fc.Arbitrary<Case> = fc.record({
  fahrenheit: fc.boolean(), t: floatField, ts: opt(dateTimeField), type: opt(u8), rfu: rfu(0xf8),
}).map(({ fahrenheit, t, ts, type, rfu: r }) => {
  const flags = (fahrenheit ? 1 : 0) | (ts ? 2 : 0) | (type !== undefined ? 4 : 0) | r;
  const e = new Enc().u8(flags);
  t.put(e);
  const expect: Record<string, unknown> = { kind: 'temperature', flags, temperature: t.value, unit: fahrenheit ? '[degF]' : 'Cel' };
  if (ts) { ts.put(e); expect.timestamp = ts.value; }
  if (type !== undefined) { e.u8(type); expect.temperatureType = type; expect.temperatureTypeName = TEMPERATURE_TYPES[type] ?? 'reserved'; }
  return { uuid: '2a1c', bytes: e.done(), expect };
});

const bloodPressureCase: fc.Arbitrary<Case> = fc.record({
  kpa: fc.boolean(), sys: sfloatField, dia: sfloatField, map: sfloatField, ts: opt(dateTimeField),
  pr: opt(sfloatField), user: opt(u8), status: opt(u16), rfu: rfu(0xe0),
}).map(({ kpa, sys, dia, map, ts, pr, user, status, rfu: r }) => {
  const flags = (kpa ? 1 : 0) | (ts ? 2 : 0) | (pr ? 4 : 0) | (user !== undefined ? 8 : 0) | (status !== undefined ? 0x10 : 0) | r;
  const e = new Enc().u8(flags);
  sys.put(e); dia.put(e); map.put(e);
  const expect: Record<string, unknown> = {
    kind: 'blood-pressure', flags, systolic: sys.value, diastolic: dia.value, meanArterialPressure: map.value, unit: kpa ? 'kPa' : 'mm[Hg]',
  };
  if (ts) { ts.put(e); expect.timestamp = ts.value; }
  if (pr) { pr.put(e); expect.pulseRate = pr.value; }
  if (user !== undefined) { e.u8(user); expect.userId = user; }
  if (status !== undefined) { e.u16(status); expect.measurementStatus = status; }
  return { uuid: '2a35', bytes: e.done(), expect };
});

const plxContinuousCase: fc.Arbitrary<Case> = fc.record({
  spo2: sfloatField, pr: sfloatField, fast: opt(fc.tuple(sfloatField, sfloatField)), slow: opt(fc.tuple(sfloatField, sfloatField)),
  status: opt(u16), device: opt(u24), pai: opt(sfloatField), rfu: rfu(0xe0),
}).map(({ spo2, pr, fast, slow, status, device, pai, rfu: r }) => {
  const flags = (fast ? 1 : 0) | (slow ? 2 : 0) | (status !== undefined ? 4 : 0) | (device !== undefined ? 8 : 0) | (pai ? 0x10 : 0) | r;
  const e = new Enc().u8(flags);
  spo2.put(e); pr.put(e);
  const expect: Record<string, unknown> = { kind: 'plx-continuous', flags, spo2: spo2.value, pulseRate: pr.value };
  if (fast) { fast[0].put(e); fast[1].put(e); expect.spo2Fast = fast[0].value; expect.pulseRateFast = fast[1].value; }
  if (slow) { slow[0].put(e); slow[1].put(e); expect.spo2Slow = slow[0].value; expect.pulseRateSlow = slow[1].value; }
  if (status !== undefined) { e.u16(status); expect.measurementStatus = status; }
  if (device !== undefined) { e.u24(device); expect.deviceAndSensorStatus = device; }
  if (pai) { pai.put(e); expect.pulseAmplitudeIndex = pai.value; }
  return { uuid: '2a5f', bytes: e.done(), expect };
});

const plxSpotCheckCase: fc.Arbitrary<Case> = fc.record({
  spo2: sfloatField, pr: sfloatField, ts: opt(dateTimeField), status: opt(u16), device: opt(u24), pai: opt(sfloatField),
  clockNotSet: fc.boolean(), rfu: rfu(0xe0),
}).map(({ spo2, pr, ts, status, device, pai, clockNotSet, rfu: r }) => {
  const flags = (ts ? 1 : 0) | (status !== undefined ? 2 : 0) | (device !== undefined ? 4 : 0) | (pai ? 8 : 0) | (clockNotSet ? 0x10 : 0) | r;
  const e = new Enc().u8(flags);
  spo2.put(e); pr.put(e);
  const expect: Record<string, unknown> = { kind: 'plx-spot-check', flags, spo2: spo2.value, pulseRate: pr.value, deviceClockNotSet: clockNotSet };
  if (ts) { ts.put(e); expect.timestamp = ts.value; }
  if (status !== undefined) { e.u16(status); expect.measurementStatus = status; }
  if (device !== undefined) { e.u24(device); expect.deviceAndSensorStatus = device; }
  if (pai) { pai.put(e); expect.pulseAmplitudeIndex = pai.value; }
  return { uuid: '2a5e', bytes: e.done(), expect };
});

const glucoseCase: fc.Arbitrary<Case> = fc.record({
  seq: u16, base: dateTimeField, offset: opt(fc.integer({ min: -32768, max: 32767 })),
  conc: opt(fc.tuple(sfloatField, fc.boolean(), u8)), status: opt(u16), context: fc.boolean(), rfu: rfu(0xe0),
}).map(({ seq, base, offset, conc, status, context, rfu: r }) => {
  const molL = conc?.[1] ?? false;
  const flags = (offset !== undefined ? 1 : 0) | (conc ? 2 : 0) | (molL ? 4 : 0) | (status !== undefined ? 8 : 0) | (context ? 0x10 : 0) | r;
  const e = new Enc().u8(flags).u16(seq);
  base.put(e);
  const expect: Record<string, unknown> = {
    kind: 'glucose', flags, sequenceNumber: seq, baseTime: base.value, timestamp: base.value, contextInformationFollows: context,
  };
  if (offset !== undefined) {
    e.u16(offset);
    expect.timeOffset = offset;
    if (base.ms !== undefined) expect.timestamp = new Date(base.ms + offset * 60_000).toISOString().slice(0, 19);
  }
  if (conc) {
    const [c, , ts] = conc;
    c.put(e);
    e.u8(ts);
    Object.assign(expect, {
      concentration: c.value, unit: molL ? 'mol/L' : 'kg/L',
      type: ts & 0x0f, typeName: GLUCOSE_TYPES[ts & 0x0f] ?? 'reserved',
      sampleLocation: ts >> 4, sampleLocationName: GLUCOSE_SAMPLE_LOCATIONS[ts >> 4] ?? 'reserved',
    });
  }
  if (status !== undefined) { e.u16(status); expect.sensorStatus = status; }
  return { uuid: '2a18', bytes: e.done(), expect };
});

const anyCase = fc.oneof(heartRateCase, temperatureCase, bloodPressureCase, plxContinuousCase, plxSpotCheckCase, glucoseCase);

// ---------------------------------------------------------------------------------------------

/** Decodes and asserts the boundary contract: no throw, a result of the documented shape, fast. */
function decodeChecked(uuid: unknown, bytes: unknown): { ok: boolean; value?: GattMeasurement; reason?: string; ms: number } {
  const t0 = performance.now();
  let r: ReturnType<typeof decodeGatt>;
  try {
    r = decodeGatt(uuid as never, bytes as never);
  } catch (e) {
    assert.fail(`decodeGatt threw: ${String(e)}`);
  }
  const ms = performance.now() - t0;
  if (r.ok) return { ok: true, value: r.value, ms };
  assert.equal(typeof r.reason, 'string');
  assert.ok(r.reason.length > 0);
  return { ok: false, reason: r.reason, ms };
}

function checkReadings(m: GattMeasurement): void {
  const out = gattToReadings(m, { seq: 7, ts: Date.UTC(2026, 0, 1), useDeviceTime: true });
  assert.ok(out.readings.length <= 1);
  for (const r of out.readings) {
    const v = validateBody(r.stream, r.body);
    assert.ok(v.ok, v.ok ? '' : v.reason);
    for (const x of Object.values('values' in r.body ? r.body.values : {})) assert.ok(Number.isFinite(x));
  }
  for (const a of out.absent) assert.ok(a.field.length > 0 && a.reason.length > 0);
}

describe('GATT decoders under property tests (fast-check)', function () {
  this.timeout(120_000);

  it('never throw and answer within 50 ms for arbitrary bytes on every UUID', () => {
    let slowest = 0;
    let decoded = 0;
    fc.assert(fc.property(
      fc.constantFrom(...UUIDS, 0x2a37, '0x2A5F', '2a19', 'nonsense'),
      fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 600 })),
      (uuid, bytes) => {
        const r = decodeChecked(uuid, bytes);
        slowest = Math.max(slowest, r.ms);
        if (r.value) { decoded++; checkReadings(r.value); }
      },
    ), { numRuns: 20_000 });
    assert.ok(slowest < 50, `slowest call took ${slowest} ms`);
    assert.ok(decoded > 100, `only ${decoded} arbitrary payloads decoded; the fuzzer is not reaching the field code`);
  });

  it('never throw for arbitrary non-byte inputs and UUIDs', () => {
    fc.assert(fc.property(fc.anything(), fc.anything(), (uuid, bytes) => {
      decodeChecked(uuid, bytes);
    }), { numRuns: 2000 });
    fc.assert(fc.property(fc.string(), fc.integer(), fc.double(), (s, i, d) => {
      decodeChecked(s, new Uint8Array([0, 1]));
      decodeChecked(i, new Uint8Array([0, 1]));
      decodeChecked(d, new Uint8Array([0, 1]));
    }), { numRuns: 1000 });
  });

  it('decode SFLOAT and FLOAT words of any number without throwing', () => {
    fc.assert(fc.property(fc.oneof(fc.integer(), fc.double(), fc.constant(NaN)), (n) => {
      for (const d of [decodeSfloat(n), decodeFloat(n)]) {
        assert.ok('value' in d ? Number.isFinite(d.value) : typeof d.absent === 'string');
      }
    }), { numRuns: 2000 });
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), (w) => {
      const d = decodeFloat(w);
      if ('absent' in d) return;
      const e = (w >>> 24) >= 0x80 ? (w >>> 24) - 0x100 : w >>> 24;
      const m = (w & 0xffffff) >= 0x800000 ? (w & 0xffffff) - 0x1000000 : w & 0xffffff;
      assert.equal(d.value, decimalLiteral(m, e));
    }), { numRuns: 20_000 });
  });

  it('round-trip values built field by field, with every flag combination and RFU bits', () => {
    fc.assert(fc.property(anyCase, ({ uuid, bytes, expect }) => {
      const r = decodeChecked(uuid, bytes);
      assert.ok(r.value, `${uuid} ${Buffer.from(bytes).toString('hex')}: ${r.reason}`);
      const actual = r.value as unknown as Record<string, unknown>;
      for (const k of Object.keys(actual)) {
        if (!DERIVED.has(k)) assert.ok(k in expect, `unexpected field ${k}`);
      }
      for (const [k, v] of Object.entries(expect)) assert.deepEqual(actual[k], v, k);
      checkReadings(r.value);
    }), { numRuns: 5000 });
  });

  it('reject every strict prefix of a built value (bar heart-rate RR cuts), and any extra byte', () => {
    fc.assert(fc.property(anyCase, fc.nat(), u8, ({ uuid, bytes, expect }, cut, extra) => {
      const n = cut % bytes.length;
      const r = decodeChecked(uuid, bytes.subarray(0, n));
      if (r.ok) assert.ok(uuid === '2a37' && expect.rrIntervals1024 !== undefined && r.value?.kind === 'heart-rate');
      else assert.match(r.reason ?? '', /: truncated: need \d+ bytes? for .+ at offset \d+, have \d+$/);
      const longer = Uint8Array.from([...bytes, extra]);
      const l = decodeChecked(uuid, longer);
      if (uuid === '2a37' && expect.rrIntervals1024 !== undefined) {
        assert.match(l.reason ?? '', /truncated: need 2 bytes for RR interval/);
      } else {
        assert.match(l.reason ?? '', /: inconsistent: 1 trailing byte at offset \d+ that the flags do not announce$/);
      }
    }), { numRuns: 3000 });
  });

  it('survive mutations of valid values (bit flips, byte changes, truncation, extension)', () => {
    fc.assert(fc.property(
      anyCase,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
      fc.integer({ min: -8, max: 8 }),
      ({ uuid, bytes }, edits, resize) => {
        const b = Array.from(bytes);
        for (const [i, v] of edits) if (b.length > 0) b[i % b.length] = v;
        const mutated = resize >= 0 ? [...b, ...new Array<number>(resize).fill(0xa5)] : b.slice(0, Math.max(0, b.length + resize));
        const r = decodeChecked(uuid, Uint8Array.from(mutated));
        if (r.value) checkReadings(r.value);
      },
    ), { numRuns: 5000 });
  });
});
