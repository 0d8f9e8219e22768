/**
 * Decoded GATT values in physical units (units.ts): the shared vectors' expected values, checked
 * in the units a person reads them in, and a UCUM unit on every number of every decoded vector.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { decodeGattWithUnits, gattWithUnits, measurementWithUnits, type GattPhysical, type HeartRateMeasurement } from '@vitalgate/firmware-bridge';

interface Vector { uuid: string; hex: string; expect?: Record<string, unknown>; invalid?: string }
const SHARED = JSON.parse(readFileSync(new URL('../../../../../shared/vectors/gatt.json', import.meta.url), 'utf8')) as { vectors: Vector[] };
const bytes = (h: string) => Uint8Array.from(h.match(/../g) ?? [], (b) => parseInt(b, 16));

/** What each field measures, stated here independently of the decoders: UCUM. */
const EXPECTED_UNIT: Record<string, (e: Record<string, unknown>) => string> = {
  heartRate: () => '/min',
  energyExpended: () => 'kJ',
  temperature: (e) => e.unit as string,
  systolic: (e) => e.unit as string,
  diastolic: (e) => e.unit as string,
  meanArterialPressure: (e) => e.unit as string,
  pulseRate: () => '/min',
  spo2: () => '%',
  userId: () => '{id}',
  measurementStatus: () => '{flags}',
  temperatureType: () => '{code}',
};

function decoded(uuid: string, hex: string): GattPhysical {
  const r = decodeGattWithUnits(uuid, bytes(hex));
  assert.ok(r.ok, `${uuid} ${hex}: ${r.ok ? '' : r.reason}`);
  return r.value;
}

/** Every number anywhere in the output sits in a {value|values, unit} object with a non-empty unit. */
function assertEveryNumberHasAUnit(v: unknown, path: string): void {
  if (typeof v === 'number') assert.fail(`${path} is a bare number (${v})`);
  if (Array.isArray(v)) return v.forEach((x, i) => assertEveryNumberHasAUnit(x, `${path}[${i}]`));
  if (typeof v !== 'object' || v === null) return;
  const o = v as Record<string, unknown>;
  if ('value' in o || 'values' in o) {
    assert.equal(typeof o.unit, 'string', `${path} has no unit`);
    assert.ok((o.unit as string).length > 0, `${path} has an empty unit`);
    assert.ok(typeof o.value === 'number' || (Array.isArray(o.values) && o.values.every((x) => typeof x === 'number')), `${path}`);
    return;
  }
  for (const [k, x] of Object.entries(o)) assertEveryNumberHasAUnit(x, `${path}.${k}`);
}

describe('GATT values in physical units', () => {
  describe('the shared vectors (../shared/vectors/gatt.json), checked in units', () => {
    for (const v of SHARED.vectors.filter((x) => x.expect)) {
      it(`${v.uuid} ${v.hex}`, () => {
        const out = decoded(v.uuid, v.hex);
        assertEveryNumberHasAUnit(out, `${v.uuid} ${v.hex}`);
        for (const [k, want] of Object.entries(v.expect!)) {
          if (typeof want === 'number') {
            const unit = EXPECTED_UNIT[k];
            assert.ok(unit, `the test names the unit of ${k}`);
            assert.deepEqual(out[k], { value: want, unit: unit(v.expect!) }, k);
          } else if (k === 'rrIntervals1024') {
            const raw = want as number[];
            assert.deepEqual(out.rrIntervals1024, { values: raw, unit: 's/1024' });
            assert.deepEqual(out.rrIntervalsS, { values: raw.map((r) => r / 1024), unit: 's' });
            assert.deepEqual(out.rrIntervalsMs, { values: raw.map((r) => (r * 1000) / 1024), unit: 'ms' });
          } else assert.deepEqual(out[k], want, k);
        }
      });
    }
  });

  it('RR intervals in seconds and milliseconds are exact, beside the raw 1/1024 s values', () => {
    const out = decoded('2a37', '1f0101320101000201ffff');
    assert.deepEqual(out.rrIntervals1024, { values: [1, 258, 65535], unit: 's/1024' });
    assert.deepEqual(out.rrIntervalsS, { values: [0.0009765625, 0.251953125, 63.9990234375], unit: 's' });
    assert.deepEqual(out.rrIntervalsMs, { values: [0.9765625, 251.953125, 63999.0234375], unit: 'ms' });
    assert.deepEqual(decoded('2a37', '1e5532002100').rrIntervalsMs, { values: [32.2265625], unit: 'ms' });
    assert.equal(decoded('2a37', '0055').rrIntervalsS, undefined);
  });

  it('a value that announces its own unit keeps it; an IEEE special stays absent, with its unit', () => {
    assert.deepEqual(decoded('2a1c', '01da0300ff').temperature, { value: 98.6, unit: '[degF]' });
    assert.deepEqual(decoded('2a1c', '00ffff7f00').temperature, { absent: 'nan', unit: 'Cel' });
    assert.deepEqual(decoded('2a35', '00bdf00b009ff0').systolic, { value: 18.9, unit: 'mm[Hg]' });
    // bit 0 of the flags: kPa
    assert.deepEqual(decoded('2a35', '01bdf00b009ff0').systolic, { value: 18.9, unit: 'kPa' });
  });

  it('a date the device did not fully know keeps its parts, each named', () => {
    const out = decoded('2a1c', '03da0300ff000000000c0000');
    assertEveryNumberHasAUnit(out, '2a1c');
    assert.deepEqual((out.timestamp as { parts: Record<string, unknown> }).parts.hours, { value: 12, unit: 'h' });
  });

  it('a numeric field without a unit is an error, not a bare number', () => {
    const m = { kind: 'heart-rate', flags: 0, heartRate: 60, contactSupported: false } as HeartRateMeasurement;
    assert.throws(() => gattWithUnits(m, { flags: '{flags}' }), /heart-rate: field heartRate has no unit/);
    assert.deepEqual(measurementWithUnits(m).heartRate, { value: 60, unit: '/min' });
  });

  it('invalid input is still refused with a reason', () => {
    const r = decodeGattWithUnits('2a37', bytes('170101'));
    assert.equal(r.ok, false);
    assert.ok(!r.ok && /^Heart Rate Measurement: /.test(r.reason));
  });
});
