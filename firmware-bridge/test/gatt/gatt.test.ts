/**
 * Bluetooth GATT health characteristic decoders: shared vectors, vectors from public test suites
 * and the SIG specifications (each cited where it is used), IEEE 11073 number formats, truncation,
 * UUID spellings, and the mapping to reading bodies. Property tests live in gatt-fuzz.test.ts.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { validateBody } from '@vitalgate/protocol';
import {
  decodeFloat, decodeGatt, decodeSfloat, GATT_CHARACTERISTICS, gattToReadings,
  type GattMeasurement, type GattReadings,
} from '../../src/gatt/index.js';

// ---------------------------------------------------------------------------------------------
// helpers

function hex(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, '');
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(clean)) throw new Error(`bad hex in test: ${s}`);
  return Uint8Array.from(Buffer.from(clean, 'hex'));
}

interface VectorFile {
  vectors: Array<{ uuid: string; hex: string; expect?: Record<string, unknown>; invalid?: string }>;
  sfloat: Array<{ hex16: string; value?: number; special?: string }>;
  float32: Array<{ hex32: string; value?: number; special?: string }>;
}

/** Read in place from ../shared (never copied into the repo). */
const SHARED = JSON.parse(
  readFileSync(new URL('../../../../../shared/vectors/gatt.json', import.meta.url), 'utf8'),
) as VectorFile;

/** gatt.json spells special values as the specs do; the decoders return these reasons. */
const SPECIAL: Readonly<Record<string, string>> = {
  NaN: 'nan', NRes: 'nres', '+INFINITY': 'positive-infinity', '-INFINITY': 'negative-infinity', reserved: 'reserved',
};

function decodeOk(uuid: string, h: string): GattMeasurement {
  const r = decodeGatt(uuid, hex(h));
  assert.ok(r.ok, `${uuid} ${h}: ${r.ok ? '' : r.reason}`);
  return r.value;
}

/** Compares exactly the fields an expectation names; `undefined` there asserts the field is absent. */
function assertFields(actual: object, expect: Record<string, unknown>, label: string): void {
  for (const [k, v] of Object.entries(expect)) {
    assert.deepEqual((actual as Record<string, unknown>)[k], v, `${label}: field ${k}`);
  }
}

function assertInvalid(uuid: string, h: string, pattern?: RegExp): string {
  const r = decodeGatt(uuid, hex(h));
  assert.equal(r.ok, false, `${uuid} ${h} should be rejected`);
  assert.ok(!r.ok);
  const name = GATT_CHARACTERISTICS[uuid.toLowerCase()];
  assert.ok(name !== undefined && r.reason.startsWith(`${name}: `), `reason names the characteristic: ${r.reason}`);
  if (pattern) assert.match(r.reason, pattern);
  return r.reason;
}

// ---------------------------------------------------------------------------------------------
// IEEE 11073-20601 SFLOAT / FLOAT

describe('IEEE 11073 SFLOAT and FLOAT', () => {
  it('decodes the gatt.json sfloat and float32 vectors', () => {
    for (const v of SHARED.sfloat) {
      const d = decodeSfloat(parseInt(v.hex16, 16));
      assert.deepEqual(d, v.special !== undefined ? { absent: SPECIAL[v.special] } : { value: v.value }, v.hex16);
    }
    for (const v of SHARED.float32) {
      const d = decodeFloat(parseInt(v.hex32, 16));
      assert.deepEqual(d, v.special !== undefined ? { absent: SPECIAL[v.special] } : { value: v.value }, v.hex32);
    }
  });

  // HL7 FHIR Personal Health Device IG, "Mder FLOATs and SFLOATs"
  // (HL7/phd input/pagecontent/MderFLOATsandSFLOATs.md): both encoding tables, every row.
  it('decodes every row of the HL7 PHD IG FLOAT and SFLOAT tables', () => {
    const floats: Array<[number, number]> = [
      [0x00000002, 2], [0xff000014, 2], [0xfe0000c8, 2], [0x01000002, 20], [0x02000002, 200],
      [0x000000c8, 200], [0x000004d2, 1234], [0x00fffb2e, -1234],
    ];
    for (const [raw, value] of floats) assert.deepEqual(decodeFloat(raw), { value }, raw.toString(16));
    const sfloats: Array<[number, number]> = [
      [0x0002, 2], [0xf014, 2], [0xe0c8, 2], [0x1002, 20], [0x2002, 200], [0x00c8, 200], [0x04d2, 1234], [0x0b2e, -1234],
    ];
    for (const [raw, value] of sfloats) assert.deepEqual(decodeSfloat(raw), { value }, raw.toString(16));
  });

  // Same IG, "Special FLOAT and SFLOAT Values" table; reserved is 0x0801 / 0x00800001 there too.
  it('turns all five special values of each format into absent reasons, never numbers', () => {
    const cases: Array<[number, number, string]> = [
      [0x07ff, 0x007fffff, 'nan'],
      [0x0800, 0x00800000, 'nres'],
      [0x07fe, 0x007ffffe, 'positive-infinity'],
      [0x0802, 0x00800002, 'negative-infinity'],
      [0x0801, 0x00800001, 'reserved'],
    ];
    for (const [s, f, reason] of cases) {
      assert.deepEqual(decodeSfloat(s), { absent: reason });
      assert.deepEqual(decodeFloat(f), { absent: reason });
    }
  });

  it('treats special mantissas with a non-zero exponent as ordinary numbers (specials have exponent 0)', () => {
    assert.deepEqual(decodeSfloat(0xf7ff), { value: 204.7 });
    assert.deepEqual(decodeSfloat(0x1800), { value: -20480 });
    assert.deepEqual(decodeSfloat(0xf802), { value: -204.6 });
    assert.deepEqual(decodeFloat(0xff7fffff), { value: 838860.7 });
    assert.deepEqual(decodeFloat(0x01800000), { value: -83886080 });
  });

  it('decodes negative mantissas and exponents at both ends of their ranges', () => {
    assert.deepEqual(decodeSfloat(0xffff), { value: -0.1 });
    assert.deepEqual(decodeSfloat(0x8001), { value: 1e-8 });
    assert.deepEqual(decodeSfloat(0x8800), { value: -0.00002048 });
    assert.deepEqual(decodeSfloat(0x77fd), { value: 20450000000 });
    assert.deepEqual(decodeSfloat(0x0000), { value: 0 });
    assert.deepEqual(decodeFloat(0x80000001), { value: 1e-128 });
    assert.deepEqual(decodeFloat(0x7f7ffffd), { value: 8388605e127 });
    assert.deepEqual(decodeFloat(0x80800003), { value: -8388605e-128 });
    assert.deepEqual(decodeFloat(0xfdfffc18), { value: -1 }); // mantissa -1000, exponent -3
  });

  it('rounds to the precision the exponent states (37.6, not 37.60000000000001)', () => {
    assert.deepEqual(decodeSfloat(0xf178), { value: 37.6 }); // 376 × 10^-1
    assert.deepEqual(decodeFloat(0xfe000eb0), { value: 37.6 }); // 3760 × 10^-2
    const cases: Array<[number, string]> = [[0xfe000eb0, '37.6'], [0xfd0003e7, '0.999'], [0xfa000001, '0.000001'], [0xfe00166b, '57.39']];
    for (const [raw, text] of cases) {
      const d = decodeFloat(raw);
      assert.ok('value' in d);
      assert.equal(String(d.value), text);
    }
    // 0.1 + 0.2 style drift must not appear: 3 × 10^-1 is the double nearest 0.3.
    assert.deepEqual(decodeSfloat(0xf003), { value: 0.3 });
  });

  it('decodes every one of the 65 536 SFLOAT words to its decimal literal or one of five specials', () => {
    let specials = 0;
    for (let w = 0; w <= 0xffff; w++) {
      const d = decodeSfloat(w);
      if ('absent' in d) { specials++; continue; }
      const e = (w >> 12) >= 8 ? (w >> 12) - 16 : w >> 12;
      const m = (w & 0xfff) >= 0x800 ? (w & 0xfff) - 0x1000 : w & 0xfff;
      const sign = m < 0 ? '-' : '';
      const digits = String(Math.abs(m)).padStart(Math.max(1, -e + 1), '0');
      const literal = e >= 0
        ? `${sign}${digits}${'0'.repeat(e)}`
        : `${sign}${digits.slice(0, digits.length + e)}.${digits.slice(digits.length + e)}`;
      if (d.value !== Number(literal)) assert.fail(`0x${w.toString(16)}: ${d.value} !== ${literal}`);
    }
    assert.equal(specials, 5);
  });
});

// ---------------------------------------------------------------------------------------------
// shared vectors

describe('GATT vectors (../shared/vectors/gatt.json)', () => {
  for (const v of SHARED.vectors) {
    if (v.expect !== undefined) {
      const expect = v.expect;
      it(`decodes ${v.uuid} ${v.hex}`, () => assertFields(decodeOk(v.uuid, v.hex), expect, `${v.uuid} ${v.hex}`));
    } else {
      it(`rejects ${v.uuid} ${v.hex} (${v.invalid ?? 'invalid'})`, () => {
        assertInvalid(v.uuid, v.hex);
      });
    }
  }
});

// ---------------------------------------------------------------------------------------------
// vectors from public sources

const NORDIC = 'NordicSemiconductor/Android-BLE-Common-Library ble-common/src/test/java/no/nordicsemi/android/ble/common/callback';
const SPEZI = 'StanfordSpezi/SpeziBluetooth Tests/SpeziBluetoothServicesTests/PLXTests.swift';

interface Sourced {
  /** Where the bytes and the expected values come from. */
  source: string;
  uuid: string;
  hex: string;
  expect?: Record<string, unknown>;
  /** A pattern the rejection reason must match. */
  invalid?: RegExp;
}

const SOURCED: Sourced[] = [
  // ---- Heart Rate Measurement 0x2A37 ------------------------------------------------------
  {
    source: 'movisens/SmartGattLib src/test/java/HeartRateMeasurementTest.java (RR 0.33203125 s, 0.73046875 s)',
    uuid: '2a37', hex: '16485401EC02',
    expect: { heartRate: 72, contactSupported: true, contactDetected: true, energyExpended: undefined, rrIntervals1024: [340, 748] },
  },
  {
    source: 'zephyrproject-rtos/zephyr subsys/bluetooth/services/hrs.c bt_hrs_notify(): {0x06 /* uint8, sensor contact */, bpm}',
    uuid: '2a37', hex: '065a',
    expect: { heartRate: 90, contactSupported: true, contactDetected: true, rrIntervals1024: undefined },
  },
  {
    source: `${NORDIC}/hr/HeartRateMeasurementDataCallbackTest.java onHeartRateMeasurementReceived_uint16: contact bits 3`,
    uuid: '2a37', hex: '1f0101320101000201ffff',
    expect: { heartRate: 257, contactSupported: true, contactDetected: true, flags: 0x1f },
  },
  {
    source: 'hand-built from Heart Rate Service 1.0 field table: contact bits = 1 means "not supported", like 0',
    uuid: '2a37', hex: '0248',
    expect: { heartRate: 72, contactSupported: false, contactDetected: undefined },
  },
  {
    source: 'hand-built from HRS 1.0 field table: bit 3 energy expended (uint16 kJ) with a uint8 heart rate',
    uuid: '2a37', hex: '0848e803',
    expect: { heartRate: 72, energyExpended: 1000, rrIntervals1024: undefined },
  },
  {
    source: 'hand-built from HRS 1.0 field table: bit 0 uint16 heart rate alone',
    uuid: '2a37', hex: '012c01',
    expect: { heartRate: 300, contactSupported: false, energyExpended: undefined },
  },
  {
    source: 'hand-built: RFU flag bits 5–7 are ignored (GSS: receivers ignore RFU bits) when no bytes follow',
    uuid: '2a37', hex: 'e048',
    expect: { heartRate: 72, flags: 0xe0, contactSupported: false },
  },
  {
    source: 'hand-built from HRS 1.0 field table: an RR interval is 2 bytes; 3 RR bytes are a truncated value',
    uuid: '2a37', hex: '1048000400',
    invalid: /^Heart Rate Measurement: truncated: need 2 bytes for RR interval at offset 4, have 1$/,
  },
  {
    source: 'hand-built: a byte after the heart rate with no flag announcing it',
    uuid: '2a37', hex: '004800', invalid: /inconsistent: 1 trailing byte at offset 2/,
  },
  { source: 'hand-built: empty value', uuid: '2a37', hex: '', invalid: /truncated: need 1 byte for flags at offset 0, have 0/ },

  // ---- Temperature Measurement 0x2A1C -----------------------------------------------------
  {
    source: `${NORDIC}/ht/TemperatureMeasurementDataCallbackTest.java onTemperatureMeasurementReceived (type 4 = finger)`,
    uuid: '2a1c', hex: '06b00e00fedc070c050b321b04',
    expect: { temperature: 37.6, unit: 'Cel', timestamp: '2012-12-05T11:50:27', temperatureType: 4, temperatureTypeName: 'finger' },
  },
  {
    source: 'zephyrproject-rtos/zephyr samples/bluetooth/peripheral_ht/src/hts.c hts_indicate() (2019): {0x00, t, 0, 0, 0}',
    uuid: '2a1c', hex: '0015000000',
    expect: { temperature: 21, unit: 'Cel', timestamp: undefined, temperatureType: undefined },
  },
  {
    source: 'hand-built from Health Thermometer Service 1.0 field table (bit 0 = Fahrenheit), 98.6 as FLOAT (986, -1)',
    uuid: '2a1c', hex: '01da0300ff',
    expect: { temperature: 98.6, unit: '[degF]', timestamp: undefined },
  },
  {
    source: 'hand-built from HTS 1.0 field table and Temperature Type 0x2A1D (3 = ear), type without timestamp',
    uuid: '2a1c', hex: '046e0100ff03',
    expect: { temperature: 36.6, temperatureType: 3, temperatureTypeName: 'ear', timestamp: undefined },
  },
  {
    source: 'hand-built: FLOAT NaN 0x007FFFFF (HL7 PHD IG special-values table)',
    uuid: '2a1c', hex: '00ffff7f00',
    expect: { temperature: { absent: 'nan' } },
  },
  {
    source: 'hand-built from GSS Date Time: year, month and day 0 mean "not known"',
    uuid: '2a1c', hex: '03da0300ff000000000c0000',
    expect: {
      unit: '[degF]',
      timestamp: { absent: 'not-known', parts: { year: 0, month: 0, day: 0, hours: 12, minutes: 0, seconds: 0 } },
    },
  },
  {
    source: 'hand-built from GSS Date Time: month 13 is reserved',
    uuid: '2a1c', hex: '026e0100ffdc070d050b321b', invalid: /inconsistent: timestamp month 13 \(at offset 5\) is outside 1\.\.12/,
  },
  {
    source: 'hand-built: 30 February does not exist',
    uuid: '2a1c', hex: '026e0100ffe407021e000000', invalid: /inconsistent: timestamp day 30 .* does not exist in month 2 of 2020/,
  },

  // ---- Blood Pressure Measurement 0x2A35 --------------------------------------------------
  {
    source: `${NORDIC}/bps/BloodPressureMeasurementDataCallbackTest.java onBloodPressureMeasurementReceived_full (year not set)`,
    uuid: '2a35', hex: '1e8a00580078000000041114293b3c00012700',
    expect: {
      systolic: 138, diastolic: 88, meanArterialPressure: 120, unit: 'mm[Hg]', pulseRate: 60, userId: 1,
      timestamp: { absent: 'not-known', parts: { year: 0, month: 4, day: 17, hours: 20, minutes: 41, seconds: 59 } },
      measurementStatus: 0x27,
      measurementStatusFlags: ['body-movement', 'cuff-too-loose', 'irregular-pulse', 'improper-position'],
      pulseRateRange: 'in-range',
    },
  },
  {
    source: `${NORDIC}/bps/BloodPressureMeasurementDataCallbackTest.java onBloodPressureMeasurementReceived_some (kPa)`,
    uuid: '2a35', hex: '15bdf00b009ff03c001200',
    expect: {
      systolic: 18.9, diastolic: 11, meanArterialPressure: 15.9, unit: 'kPa', pulseRate: 60, userId: undefined,
      timestamp: undefined, measurementStatus: 0x12, measurementStatusFlags: ['cuff-too-loose'], pulseRateRange: 'below-lower-limit',
    },
  },
  {
    source: `${NORDIC}/bps/BloodPressureMeasurementDataCallbackTest.java onBloodPressureMeasurementReceived_minimal`,
    uuid: '2a35', hex: '00bdf00b009ff0',
    expect: { systolic: 18.9, diastolic: 11, meanArterialPressure: 15.9, unit: 'mm[Hg]', pulseRate: undefined, measurementStatus: undefined },
  },
  {
    source: `${NORDIC}/bps/BloodPressureMeasurementDataCallbackTest.java onInvalidDataReceived_toShort`,
    uuid: '2a35', hex: '010203040506', invalid: /truncated: need 2 bytes for mean arterial pressure at offset 5, have 1/,
  },
  {
    source: `${NORDIC}/bps/BloodPressureMeasurementDataCallbackTest.java onInvalidDataReceived_noTimestamp`,
    uuid: '2a35', hex: '03020304050607', invalid: /truncated: need 2 bytes for timestamp year at offset 7, have 0/,
  },
  {
    source: 'hand-built from the BLS 1.0 field table: SFLOAT specials in all three pressures, user id 0xFF = unknown user',
    uuid: '2a35', hex: '08ff070008fe07ff',
    expect: {
      systolic: { absent: 'nan' }, diastolic: { absent: 'nres' }, meanArterialPressure: { absent: 'positive-infinity' }, userId: 255,
    },
  },

  // ---- PLX Continuous Measurement 0x2A5F --------------------------------------------------
  {
    source: `${SPEZI} testSimpleMeasurementCoding [28, 95, 0, 90, 0, 32, 0, 0, 0, 0, 87, 240]`,
    uuid: '2a5f', hex: '1c5f005a00200000000057f0',
    expect: {
      spo2: 95, pulseRate: 90, spo2Fast: undefined, spo2Slow: undefined,
      measurementStatus: 32, measurementStatusFlags: ['measurement-ongoing'],
      deviceAndSensorStatus: 0, deviceAndSensorStatusFlags: [], pulseAmplitudeIndex: 8.7,
    },
  },
  {
    source: `${SPEZI} testFullMeasurementCoding (all five flag bits)`,
    uuid: '2a5f', hex: '1fdef3caf3caf35af5d4f3b2f220010000007ae3',
    expect: {
      spo2: 99, pulseRate: 97, spo2Fast: 97, pulseRateFast: 137, spo2Slow: 98, pulseRateSlow: 69,
      measurementStatus: 0x0120, measurementStatusFlags: ['measurement-ongoing', 'fully-qualified-data'],
      deviceAndSensorStatus: 0, pulseAmplitudeIndex: 8.9,
    },
  },
  {
    source: 'hand-built from PLXS 1.0.1 field table: 24-bit device and sensor status, RFU bits 16–23 kept in the raw word',
    uuid: '2a5f', hex: '08620048002280ff',
    expect: {
      spo2: 98, pulseRate: 72, deviceAndSensorStatus: 0xff8022,
      deviceAndSensorStatusFlags: ['equipment-malfunction-detected', 'low-perfusion-detected', 'sensor-disconnected'],
    },
  },
  {
    source: 'hand-built: SFLOAT NaN 0x07FF in both SpO2PR-Normal fields (an oximeter without a pulse signal)',
    uuid: '2a5f', hex: '00ff07ff07',
    expect: { spo2: { absent: 'nan' }, pulseRate: { absent: 'nan' } },
  },
  {
    source: 'hand-built from PLXS 1.0.1 field table: bit 0 announces SpO2PR-Fast (4 bytes), only 2 follow',
    uuid: '2a5f', hex: '01620048006100', invalid: /truncated: need 2 bytes for SpO2PR-Fast PR at offset 7, have 0/,
  },

  // ---- PLX Spot-check Measurement 0x2A5E --------------------------------------------------
  {
    source: `${SPEZI} testSpotCheckMeasurementCoding (flags 0x0F)`,
    uuid: '2a5e', hex: '0facf3bef5e8070b1d170839204022000066e3',
    expect: {
      spo2: 94, pulseRate: 147, timestamp: '2024-11-29T23:08:57',
      measurementStatus: 0x4020, measurementStatusFlags: ['measurement-ongoing', 'questionable-measurement-detected'],
      deviceAndSensorStatus: 0x22, deviceAndSensorStatusFlags: ['equipment-malfunction-detected', 'low-perfusion-detected'],
      pulseAmplitudeIndex: 8.7, deviceClockNotSet: false,
    },
  },
  {
    source: 'hand-built from PLXS 1.0.1 field table: SpO2PR-Spot-Check only',
    uuid: '2a5e', hex: '0062004800',
    expect: { spo2: 98, pulseRate: 72, timestamp: undefined, measurementStatus: undefined, deviceClockNotSet: false },
  },
  {
    source: 'hand-built from PLXS 1.0.1 field table: bit 4 "device clock is not set" with a timestamp',
    uuid: '2a5e', hex: '1162004800d0070101000000',
    expect: { timestamp: '2000-01-01T00:00:00', deviceClockNotSet: true },
  },
  {
    source: 'hand-built: bit 2 announces a 3-byte device and sensor status, 2 follow',
    uuid: '2a5e', hex: '04620048002200', invalid: /truncated: need 3 bytes for device and sensor status at offset 5, have 2/,
  },

  // ---- Glucose Measurement 0x2A18 ---------------------------------------------------------
  {
    source: `${NORDIC}/glucose/GlucoseMeasurementDataCallbackTest.java onGlucoseMeasurementReceived (offset -5 min)`,
    uuid: '2a18', hex: '1b0100e307021b0b0a1efbff1e00120501',
    expect: {
      sequenceNumber: 1, baseTime: '2019-02-27T11:10:30', timeOffset: -5, timestamp: '2019-02-27T11:05:30',
      concentration: 30, unit: 'kg/L', type: 2, typeName: 'capillary-plasma', sampleLocation: 1, sampleLocationName: 'finger',
      sensorStatus: 261, sensorStatusFlags: ['device-battery-low', 'sample-size-insufficient', 'sensor-temperature-too-low'],
      contextInformationFollows: true,
    },
  },
  {
    source: `${NORDIC}/glucose/GlucoseMeasurementDataCallbackTest.java onInvalidDataReceived`,
    uuid: '2a18', hex: '1b0000e207041a0b091e1e00120501', invalid: /truncated: need 2 bytes for sensor status annunciation at offset 15, have 0/,
  },
  {
    source: 'hand-built from Glucose Service 1.0 field table: bit 2 = mol/L; 5.5 mmol/L as SFLOAT (55, -4); 0x11 = capillary whole blood, finger',
    uuid: '2a18', hex: '060700e807030f081e0037c011',
    expect: {
      sequenceNumber: 7, timestamp: '2024-03-15T08:30:00', timeOffset: undefined, concentration: 0.0055, unit: 'mol/L',
      type: 1, typeName: 'capillary-whole-blood', sampleLocation: 1, contextInformationFollows: false,
    },
  },
  {
    source: 'hand-built from GLS 1.0 field table: 120 mg/dL as 0.0012 kg/L (12, -4)',
    uuid: '2a18', hex: '020200e807030f081e000cc011',
    expect: { sequenceNumber: 2, concentration: 0.0012, unit: 'kg/L' },
  },
  {
    source: 'hand-built from GLS 1.0 field table: sequence number and base time only',
    uuid: '2a18', hex: '000100e807030f081e00',
    expect: { sequenceNumber: 1, baseTime: '2024-03-15T08:30:00', concentration: undefined, unit: undefined, sensorStatus: undefined },
  },
  {
    source: 'hand-built: RFU flag bits with a byte no flag announces',
    uuid: '2a18', hex: 'e00100e807030f081e00ff', invalid: /inconsistent: 1 trailing byte at offset 10/,
  },
];

describe('GATT vectors from public test suites and the Bluetooth specifications', () => {
  for (const v of SOURCED) {
    it(`${v.uuid} ${v.hex || '(empty)'}: ${v.source}`, () => {
      if (v.invalid) assertInvalid(v.uuid, v.hex, v.invalid);
      else assertFields(decodeOk(v.uuid, v.hex), v.expect ?? {}, v.source);
    });
  }

  it('covers every defined flag bit of every characteristic', () => {
    const defined: Record<string, number> = { '2a37': 0x1f, '2a1c': 0x07, '2a35': 0x1f, '2a5f': 0x1f, '2a5e': 0x1f, '2a18': 0x1f };
    const seen: Record<string, number> = {};
    for (const v of [...SHARED.vectors, ...SOURCED]) {
      if ((v as { expect?: unknown }).expect === undefined) continue;
      seen[v.uuid] = (seen[v.uuid] ?? 0) | (hex(v.hex)[0] ?? 0);
    }
    for (const [uuid, bits] of Object.entries(defined)) assert.equal((seen[uuid] ?? 0) & bits, bits, uuid);
  });
});

// ---------------------------------------------------------------------------------------------
// truncation

describe('truncated payloads', () => {
  const valid = [...SHARED.vectors, ...SOURCED].filter((v) => (v as { expect?: unknown }).expect !== undefined);

  it('every strict prefix of every valid vector is a clear "truncated" error, or (heart rate) fewer RR intervals', () => {
    let prefixes = 0;
    for (const v of valid) {
      const bytes = hex(v.hex);
      for (let n = 0; n < bytes.length; n++) {
        prefixes++;
        const r = decodeGatt(v.uuid, bytes.subarray(0, n));
        if (r.ok) {
          // Only a heart rate with RR intervals stays valid when cut between two intervals.
          assert.equal(v.uuid, '2a37', `${v.hex}[0..${n}] decoded`);
          assert.ok(r.value.kind === 'heart-rate' && r.value.rrIntervals1024 !== undefined);
          continue;
        }
        const name = GATT_CHARACTERISTICS[v.uuid];
        assert.match(r.reason, new RegExp(`^${name}: truncated: need \\d+ bytes? for .+ at offset \\d+, have \\d+$`), r.reason);
      }
    }
    assert.ok(prefixes > 300);
  });

  it('rejects a value longer than an attribute can be (512 bytes)', () => {
    const r = decodeGatt('2a37', new Uint8Array(513).fill(0x10));
    assert.ok(!r.ok && /513 bytes exceed the 512-byte maximum/.test(r.reason));
  });
});

// ---------------------------------------------------------------------------------------------
// UUIDs

describe('decodeGatt UUID handling', () => {
  const payload = hex('0055');
  for (const uuid of ['2a37', '2A37', '0x2A37', '0x2a37', 0x2a37, '00002a37', '00002A37-0000-1000-8000-00805F9B34FB', ' 2a37 ']) {
    it(`accepts ${JSON.stringify(uuid)}`, () => {
      const r = decodeGatt(uuid, payload);
      assert.ok(r.ok && r.value.kind === 'heart-rate' && r.value.heartRate === 85);
    });
  }

  it('names all six characteristics', () => {
    assert.deepEqual(Object.keys(GATT_CHARACTERISTICS).sort(), ['2a18', '2a1c', '2a35', '2a37', '2a5e', '2a5f']);
    assert.equal(GATT_CHARACTERISTICS['2a5f'], 'PLX Continuous Measurement');
  });

  it('rejects unknown and malformed UUIDs with a clear reason', () => {
    const unknown = decodeGatt('2a19', payload);
    assert.ok(!unknown.ok && /^unknown GATT characteristic 0x2a19: supported are 0x2a37 Heart Rate Measurement/.test(unknown.reason));
    for (const bad of ['', 'heart', '2a3', '0x12345', '00002a37-0000-1000-8000-00805f9b34fc', -1, 0x10000, 1.5, NaN]) {
      const r = decodeGatt(bad, payload);
      assert.ok(!r.ok && /^not a GATT characteristic UUID/.test(r.reason), String(bad));
    }
  });

  it('never throws for inputs outside its types', () => {
    for (const [uuid, bytes] of [[null, payload], [{}, payload], ['2a37', null], ['2a37', [0, 85]], ['2a37', 'x'], [Symbol('s'), payload]]) {
      const r = decodeGatt(uuid as never, bytes as never);
      assert.equal(r.ok, false);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// readings

const SEQ = 41;
const TS = Date.UTC(2026, 0, 1, 12);

function readingsOf(uuid: string, h: string, opts: Partial<{ useDeviceTime: boolean; deviceUtcOffsetMinutes: number; ts: number }> = {}): GattReadings {
  const out = gattToReadings(decodeOk(uuid, h), { seq: SEQ, ts: TS, ...opts });
  for (const r of out.readings) {
    const checked = validateBody(r.stream, r.body);
    assert.ok(checked.ok, checked.ok ? '' : checked.reason);
    assert.deepEqual(checked.value, r.body);
  }
  return out;
}

describe('gattToReadings', () => {
  it('maps heart rate to hr with RR intervals in exact ms (r × 1000 / 1024)', () => {
    const out = readingsOf('2a37', '1e5532002100');
    assert.deepEqual(out, {
      readings: [{ stream: 'hr', body: { seq: SEQ, ts: TS, values: { hr: 85 }, rr: [32.2265625] } }],
      absent: [], tsSource: 'caller',
    });
    const r1024 = readingsOf('2a37', '10480004').readings[0]?.body;
    assert.deepEqual(r1024, { seq: SEQ, ts: TS, values: { hr: 72 }, rr: [1000] });
  });

  it('leaves out RR intervals above 10 s and says so', () => {
    const out = readingsOf('2a37', '1f0101320101000201ffff');
    assert.deepEqual(out.readings[0]?.body, { seq: SEQ, ts: TS, values: { hr: 257 }, rr: [0.9765625, 251.953125] });
    assert.deepEqual(out.absent, [{ field: 'hr.rr[2]', reason: 'out-of-range', detail: '63999.0234375 ms' }]);
  });

  it('produces no heart rate when the strap reports no skin contact', () => {
    assert.deepEqual(readingsOf('2a37', '04ff'), { readings: [], absent: [{ field: 'hr', reason: 'no-skin-contact' }], tsSource: 'caller' });
  });

  it('refuses a heart rate outside 0..600 /min', () => {
    const out = readingsOf('2a37', '01bc02'); // 700
    assert.deepEqual(out.readings, []);
    assert.deepEqual(out.absent, [{ field: 'hr.hr', reason: 'out-of-range', detail: '700 /min' }]);
  });

  it('keeps Celsius as sent and converts Fahrenheit to Cel', () => {
    assert.deepEqual(readingsOf('2a1c', '06b00e00fedc070c050b321b04').readings[0]?.body, { seq: SEQ, ts: TS, values: { temp: 37.6 } });
    const f = readingsOf('2a1c', '01da0300ff').readings[0]?.body;
    assert.deepEqual(f, { seq: SEQ, ts: TS, values: { temp: 37 } });
    // 104.2 °F
    assert.deepEqual(readingsOf('2a1c', '01120400ff').readings[0]?.body, { seq: SEQ, ts: TS, values: { temp: 40.11 } });
  });

  it('gives no temperature for a special value, with its reason', () => {
    assert.deepEqual(readingsOf('2a1c', '00ffff7f00'), { readings: [], absent: [{ field: 'temp.temp', reason: 'nan' }], tsSource: 'caller' });
    assert.deepEqual(readingsOf('2a1c', '00feff7f00').absent, [{ field: 'temp.temp', reason: 'positive-infinity' }]);
  });

  it('maps blood pressure in mmHg as sent, with map and pulse rate', () => {
    assert.deepEqual(readingsOf('2a35', '1e8a00580078000000041114293b3c00012700').readings, [
      { stream: 'bp', body: { seq: SEQ, ts: TS, values: { sys: 138, dia: 88, map: 120, pr: 60 } } },
    ]);
  });

  it('converts kPa to mm[Hg] at 7.50062 mmHg/kPa, to 0.1 mmHg', () => {
    // Nordic onBloodPressureMeasurementReceived_some: 18.9 / 11 / 15.9 kPa, pulse 60
    assert.deepEqual(readingsOf('2a35', '15bdf00b009ff03c001200').readings[0]?.body, {
      seq: SEQ, ts: TS, values: { sys: 141.8, dia: 82.5, map: 119.3, pr: 60 },
    });
  });

  it('gives no blood pressure without systolic and diastolic numbers, and lists each missing component', () => {
    assert.deepEqual(readingsOf('2a35', '08ff070008fe07ff'), {
      readings: [],
      absent: [{ field: 'bp.sys', reason: 'nan' }, { field: 'bp.dia', reason: 'nres' }, { field: 'bp.map', reason: 'positive-infinity' }],
      tsSource: 'caller',
    });
    // Only the MAP special: the reading survives without it.
    const out = readingsOf('2a35', '008a005800ff07');
    assert.deepEqual(out.readings[0]?.body, { seq: SEQ, ts: TS, values: { sys: 138, dia: 88 } });
    assert.deepEqual(out.absent, [{ field: 'bp.map', reason: 'nan' }]);
  });

  it('maps both PLX characteristics to spo2 with pr', () => {
    assert.deepEqual(readingsOf('2a5f', '00e8f384f3').readings, [{ stream: 'spo2', body: { seq: SEQ, ts: TS, values: { spo2: 100, pr: 90 } } }]);
    assert.deepEqual(readingsOf('2a5e', '0facf3bef5e8070b1d170839204022000066e3').readings[0]?.body, {
      seq: SEQ, ts: TS, values: { spo2: 94, pr: 147 },
    });
    const noPulse = readingsOf('2a5f', '00e8f3ff07');
    assert.deepEqual(noPulse.readings[0]?.body, { seq: SEQ, ts: TS, values: { spo2: 100 } });
    assert.deepEqual(noPulse.absent, [{ field: 'spo2.pr', reason: 'nan' }]);
  });

  it('drops oximetry the device itself marks invalid, unavailable, demonstration or test data', () => {
    // measurement status 0x8000 invalid measurement detected; 0x0C00 demonstration + testing
    assert.deepEqual(readingsOf('2a5f', '04e8f384f30080').absent, [{ field: 'spo2', reason: 'device-flagged', detail: 'invalid-measurement-detected' }]);
    assert.deepEqual(readingsOf('2a5e', '02e8f384f3000c').absent, [
      { field: 'spo2', reason: 'device-flagged', detail: 'data-for-demonstration, data-for-testing' },
    ]);
    // questionable is still a measurement
    assert.equal(readingsOf('2a5f', '04e8f384f30040').readings.length, 1);
  });

  it('converts glucose from kg/L (exact decimal shift) and mol/L (18016 mg/dL per mol/L)', () => {
    assert.deepEqual(readingsOf('2a18', '020200e807030f081e000cc011').readings, [
      { stream: 'glucose', body: { seq: SEQ, ts: TS, values: { glucose: 120 } } },
    ]);
    assert.deepEqual(readingsOf('2a18', '060700e807030f081e0037c011').readings[0]?.body, { seq: SEQ, ts: TS, values: { glucose: 99.1 } });
  });

  it('gives no glucose for control solution, a missing concentration, or an impossible value', () => {
    assert.deepEqual(readingsOf('2a18', '020200e807030f081e000cc01a').absent, [{ field: 'glucose', reason: 'control-solution' }]);
    assert.deepEqual(readingsOf('2a18', '020200e807030f081e000cc041').absent, [{ field: 'glucose', reason: 'control-solution' }]);
    assert.deepEqual(readingsOf('2a18', '000100e807030f081e00').absent, [{ field: 'glucose.glucose', reason: 'not-present' }]);
    // Nordic's 30 kg/L is 3 000 000 mg/dL
    assert.deepEqual(readingsOf('2a18', '1b0100e307021b0b0a1efbff1e00120501').absent, [
      { field: 'glucose.glucose', reason: 'out-of-range', detail: '3000000 mg/dL' },
    ]);
  });

  it('uses the device timestamp only when asked, when complete, and corrected by the UTC offset', () => {
    assert.equal(readingsOf('2a1c', '06b00e00fedc070c050b321b04').readings[0]?.body.ts, TS);
    const dev = readingsOf('2a1c', '06b00e00fedc070c050b321b04', { useDeviceTime: true });
    assert.equal(dev.tsSource, 'device');
    assert.equal(dev.readings[0]?.body.ts, Date.UTC(2012, 11, 5, 11, 50, 27));
    const cet = readingsOf('2a1c', '06b00e00fedc070c050b321b04', { useDeviceTime: true, deviceUtcOffsetMinutes: 60 });
    assert.equal(cet.readings[0]?.body.ts, Date.UTC(2012, 11, 5, 10, 50, 27));
    // glucose: base time plus time offset
    assert.equal(readingsOf('2a18', '030200e807030f081e00f6ff0cc011', { useDeviceTime: true }).readings[0]?.body.ts, Date.UTC(2024, 2, 15, 8, 20));
    // BP with an unknown year, and a spot-check whose clock is not set, keep the caller's ts
    const bp = readingsOf('2a35', '1e8a00580078000000041114293b3c00012700', { useDeviceTime: true });
    assert.equal(bp.tsSource, 'caller');
    assert.deepEqual(bp.absent, [{ field: 'timestamp', reason: 'not-known', detail: 'date not known' }]);
    const spot = readingsOf('2a5e', '1162004800d0070101000000', { useDeviceTime: true });
    assert.equal(spot.readings[0]?.body.ts, TS);
    assert.deepEqual(spot.absent, [{ field: 'timestamp', reason: 'not-known', detail: 'device clock is not set' }]);
    // a device clock before 2000 is outside what a reading may carry
    const old = readingsOf('2a1c', '026e0100ffc6070101000000', { useDeviceTime: true });
    assert.equal(old.readings[0]?.body.ts, TS);
    assert.deepEqual(old.absent, [{ field: 'timestamp', reason: 'out-of-range', detail: '1990-01-01T00:00:00' }]);
  });

  it('reports a body the protocol refuses instead of returning it', () => {
    const out = readingsOf('2a37', '0048', { ts: 5 });
    assert.deepEqual(out.readings, []);
    assert.equal(out.absent[0]?.reason, 'rejected');
    assert.match(out.absent[0]?.detail ?? '', /outside 2000-01-01/);
  });

  it('turns every valid vector into bodies that pass validateBody', () => {
    let readings = 0;
    for (const v of [...SHARED.vectors, ...SOURCED]) {
      if ((v as { expect?: unknown }).expect === undefined) continue;
      readings += readingsOf(v.uuid, v.hex).readings.length;
    }
    assert.ok(readings >= 20, String(readings));
  });
});
