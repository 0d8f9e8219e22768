/**
 * PLX Spot-check Measurement, 0x2A5E (Pulse Oximeter Service 1.0.1; GSS).
 *
 *   flags u8 | SpO2PR-Spot-Check: SpO2 SFLOAT, PR SFLOAT | timestamp Date Time (bit 0)
 *   | measurement status u16 (bit 1) | device and sensor status u24 (bit 2)
 *   | pulse amplitude index SFLOAT (bit 3)
 *
 * Bit 4, "device clock is not set", adds no field: it says the timestamp, if any, is not a time.
 */
import { componentUcum, type Result } from '@vitalgate/protocol';
import type { FieldUnits } from './units.js';
import { type GattDateTime, readDateTime } from './date-time.js';
import type { MeasuredValue } from './ieee11073.js';
import { type PlxStatusFields, readDeviceAndSensorStatus, readMeasurementStatus } from './plx-status.js';
import { decodeWith } from './reader.js';

export const PLX_SPOT_CHECK_MEASUREMENT = 'PLX Spot-check Measurement';

export interface PlxSpotCheckMeasurement extends PlxStatusFields {
  kind: 'plx-spot-check';
  flags: number;
  /** Percent. */
  spo2: MeasuredValue;
  /** Beats per minute. */
  pulseRate: MeasuredValue;
  timestamp?: GattDateTime;
  /** Percent. */
  pulseAmplitudeIndex?: MeasuredValue;
  deviceClockNotSet: boolean;
}

/** UCUM unit of each numeric field, the stream's own for SpO2 and pulse rate. */
export const PLX_SPOT_CHECK_UNITS: FieldUnits<PlxSpotCheckMeasurement> = {
  flags: '{flags}',
  spo2: componentUcum('spo2', 'spo2'),
  pulseRate: componentUcum('spo2', 'pr'),
  pulseAmplitudeIndex: '%',
  measurementStatus: '{flags}',
  deviceAndSensorStatus: '{flags}',
};

export function decodePlxSpotCheck(bytes: Uint8Array): Result<PlxSpotCheckMeasurement> {
  return decodeWith(PLX_SPOT_CHECK_MEASUREMENT, bytes, (r) => {
    const flags = r.u8('flags');
    const m: PlxSpotCheckMeasurement = {
      kind: 'plx-spot-check', flags,
      spo2: r.sfloat('SpO2'),
      pulseRate: r.sfloat('PR'),
      deviceClockNotSet: (flags & 0x10) !== 0,
    };
    if (flags & 0x01) m.timestamp = readDateTime(r, 'timestamp');
    if (flags & 0x02) readMeasurementStatus(r, m);
    if (flags & 0x04) readDeviceAndSensorStatus(r, m);
    if (flags & 0x08) m.pulseAmplitudeIndex = r.sfloat('pulse amplitude index');
    return m;
  });
}
