/**
 * Blood Pressure Measurement, 0x2A35 (Blood Pressure Service 1.0/1.1; GSS).
 *
 *   flags u8 | systolic SFLOAT | diastolic SFLOAT | mean arterial pressure SFLOAT
 *   | timestamp Date Time (bit 1) | pulse rate SFLOAT (bit 2) | user id u8 (bit 3)
 *   | measurement status u16 (bit 4)
 *
 * Bit 0 is the unit of all three pressures: 0 = mmHg, 1 = kPa.
 */
import { componentUcum, type Result } from '@vitalgate/protocol';
import type { FieldUnits } from './units.js';
import { namedBits } from './bits.js';
import { type GattDateTime, readDateTime } from './date-time.js';
import type { MeasuredValue } from './ieee11073.js';
import { decodeWith } from './reader.js';

export const BLOOD_PRESSURE_MEASUREMENT = 'Blood Pressure Measurement';

/** User ID 255 is the spec's "unknown user". */
export const UNKNOWN_USER_ID = 0xff;

export type BpStatusFlag = 'body-movement' | 'cuff-too-loose' | 'irregular-pulse' | 'improper-position';

/** Bits 3–4 are one two-bit field: 0 in range, 1 above the upper limit, 2 below the lower, 3 RFU. */
export type PulseRateRange = 'in-range' | 'above-upper-limit' | 'below-lower-limit' | 'reserved';

const BP_STATUS_BITS: readonly (BpStatusFlag | undefined)[] = [
  'body-movement', 'cuff-too-loose', 'irregular-pulse', undefined, undefined, 'improper-position',
];
const PULSE_RATE_RANGE: readonly PulseRateRange[] = ['in-range', 'above-upper-limit', 'below-lower-limit', 'reserved'];

export interface BloodPressureMeasurement {
  kind: 'blood-pressure';
  flags: number;
  systolic: MeasuredValue;
  diastolic: MeasuredValue;
  meanArterialPressure: MeasuredValue;
  unit: 'mm[Hg]' | 'kPa';
  timestamp?: GattDateTime;
  /** Beats per minute. */
  pulseRate?: MeasuredValue;
  /** 0..254, or UNKNOWN_USER_ID. */
  userId?: number;
  measurementStatus?: number;
  measurementStatusFlags?: BpStatusFlag[];
  pulseRateRange?: PulseRateRange;
}

/** UCUM unit of each numeric field: the pressures' is the one the flags announce. */
export const BLOOD_PRESSURE_UNITS: FieldUnits<BloodPressureMeasurement> = {
  flags: '{flags}',
  systolic: (m) => m.unit,
  diastolic: (m) => m.unit,
  meanArterialPressure: (m) => m.unit,
  pulseRate: componentUcum('bp', 'pr'),
  userId: '{id}',
  measurementStatus: '{flags}',
};

export function decodeBloodPressure(bytes: Uint8Array): Result<BloodPressureMeasurement> {
  return decodeWith(BLOOD_PRESSURE_MEASUREMENT, bytes, (r) => {
    const flags = r.u8('flags');
    const m: BloodPressureMeasurement = {
      kind: 'blood-pressure', flags,
      systolic: r.sfloat('systolic'),
      diastolic: r.sfloat('diastolic'),
      meanArterialPressure: r.sfloat('mean arterial pressure'),
      unit: flags & 0x01 ? 'kPa' : 'mm[Hg]',
    };
    if (flags & 0x02) m.timestamp = readDateTime(r, 'timestamp');
    if (flags & 0x04) m.pulseRate = r.sfloat('pulse rate');
    if (flags & 0x08) m.userId = r.u8('user id');
    if (flags & 0x10) {
      const s = r.u16('measurement status');
      m.measurementStatus = s;
      m.measurementStatusFlags = namedBits(s, BP_STATUS_BITS);
      m.pulseRateRange = PULSE_RATE_RANGE[(s >> 3) & 0x03] ?? 'reserved';
    }
    return m;
  });
}
