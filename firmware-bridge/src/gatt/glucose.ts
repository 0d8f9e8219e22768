/**
 * Glucose Measurement, 0x2A18 (Glucose Service 1.0; GSS).
 *
 *   flags u8 | sequence number u16 | base time Date Time | time offset s16 minutes (bit 0)
 *   | concentration SFLOAT + type/sample-location u8 (bit 1) | sensor status annunciation u16 (bit 3)
 *
 * Bit 2 is the concentration unit, 0 = kg/L, 1 = mol/L, and only means something with bit 1.
 * Bit 4 says a Glucose Measurement Context (0x2A34) with the same sequence number follows; it adds
 * nothing to this value. The type/sample-location byte holds the type in its low nibble and the
 * location in its high nibble.
 */
import type { Result } from '@vitalgate/protocol';
import type { FieldUnits } from './units.js';
import { namedBits } from './bits.js';
import { addMinutes, type GattDateTime, readDateTime } from './date-time.js';
import type { MeasuredValue } from './ieee11073.js';
import { decodeWith } from './reader.js';

export const GLUCOSE_MEASUREMENT = 'Glucose Measurement';

/** Type nibble values; 0 and 11–15 are reserved. */
export const GLUCOSE_TYPES: Readonly<Record<number, string>> = {
  1: 'capillary-whole-blood', 2: 'capillary-plasma', 3: 'venous-whole-blood', 4: 'venous-plasma',
  5: 'arterial-whole-blood', 6: 'arterial-plasma', 7: 'undetermined-whole-blood',
  8: 'undetermined-plasma', 9: 'interstitial-fluid', 10: 'control-solution',
};

/** Sample-location nibble values; 0 and 5–14 are reserved. */
export const GLUCOSE_SAMPLE_LOCATIONS: Readonly<Record<number, string>> = {
  1: 'finger', 2: 'alternate-site-test', 3: 'earlobe', 4: 'control-solution', 15: 'not-available',
};

export type GlucoseSensorStatusFlag =
  | 'device-battery-low' | 'sensor-malfunction' | 'sample-size-insufficient' | 'strip-insertion-error'
  | 'strip-type-incorrect' | 'result-above-device-range' | 'result-below-device-range'
  | 'sensor-temperature-too-high' | 'sensor-temperature-too-low' | 'sensor-read-interrupted'
  | 'general-device-fault' | 'time-fault';

const SENSOR_STATUS_BITS: readonly (GlucoseSensorStatusFlag | undefined)[] = [
  'device-battery-low', 'sensor-malfunction', 'sample-size-insufficient', 'strip-insertion-error',
  'strip-type-incorrect', 'result-above-device-range', 'result-below-device-range',
  'sensor-temperature-too-high', 'sensor-temperature-too-low', 'sensor-read-interrupted',
  'general-device-fault', 'time-fault',
];

export interface GlucoseMeasurement {
  kind: 'glucose';
  flags: number;
  sequenceNumber: number;
  baseTime: GattDateTime;
  /** Minutes to add to the base time. */
  timeOffset?: number;
  /** Base time plus time offset: when the sample was taken, device wall clock. */
  timestamp: GattDateTime;
  concentration?: MeasuredValue;
  unit?: 'kg/L' | 'mol/L';
  type?: number;
  typeName?: string;
  sampleLocation?: number;
  sampleLocationName?: string;
  sensorStatus?: number;
  sensorStatusFlags?: GlucoseSensorStatusFlag[];
  contextInformationFollows: boolean;
}

/** UCUM unit of each numeric field: the concentration's is the one the flags announce. */
export const GLUCOSE_UNITS: FieldUnits<GlucoseMeasurement> = {
  flags: '{flags}',
  sequenceNumber: '{count}',
  timeOffset: 'min',
  concentration: (m) => m.unit ?? '1',
  type: '{code}',
  sampleLocation: '{code}',
  sensorStatus: '{flags}',
};

export function decodeGlucose(bytes: Uint8Array): Result<GlucoseMeasurement> {
  return decodeWith(GLUCOSE_MEASUREMENT, bytes, (r) => {
    const flags = r.u8('flags');
    const sequenceNumber = r.u16('sequence number');
    const baseTime = readDateTime(r, 'base time');
    const m: GlucoseMeasurement = {
      kind: 'glucose', flags, sequenceNumber, baseTime, timestamp: baseTime,
      contextInformationFollows: (flags & 0x10) !== 0,
    };
    if (flags & 0x01) {
      const at = r.offset;
      m.timeOffset = r.s16('time offset');
      if (typeof baseTime === 'string') {
        m.timestamp = addMinutes(baseTime, m.timeOffset)
          ?? r.inconsistent(`time offset ${m.timeOffset} min (at offset ${at}) moves the base time out of 1582..9999`);
      }
    }
    if (flags & 0x02) {
      m.concentration = r.sfloat('glucose concentration');
      m.unit = flags & 0x04 ? 'mol/L' : 'kg/L';
      const ts = r.u8('type-sample location');
      m.type = ts & 0x0f;
      m.typeName = GLUCOSE_TYPES[m.type] ?? 'reserved';
      m.sampleLocation = ts >> 4;
      m.sampleLocationName = GLUCOSE_SAMPLE_LOCATIONS[m.sampleLocation] ?? 'reserved';
    }
    if (flags & 0x08) {
      const s = r.u16('sensor status annunciation');
      m.sensorStatus = s;
      m.sensorStatusFlags = namedBits(s, SENSOR_STATUS_BITS);
    }
    return m;
  });
}
