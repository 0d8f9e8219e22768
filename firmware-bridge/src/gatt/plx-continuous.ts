/**
 * PLX Continuous Measurement, 0x2A5F (Pulse Oximeter Service 1.0.1; GSS).
 *
 *   flags u8 | SpO2PR-Normal: SpO2 SFLOAT, PR SFLOAT
 *   | SpO2PR-Fast (bit 0) | SpO2PR-Slow (bit 1) | measurement status u16 (bit 2)
 *   | device and sensor status u24 (bit 3) | pulse amplitude index SFLOAT (bit 4)
 *
 * Fast and slow are the same quantities under shorter and longer averaging; Normal is the one a
 * chart should show.
 */
import { componentUcum, type Result } from '@vitalgate/protocol';
import type { FieldUnits } from './units.js';
import type { MeasuredValue } from './ieee11073.js';
import { type PlxStatusFields, readDeviceAndSensorStatus, readMeasurementStatus } from './plx-status.js';
import { decodeWith } from './reader.js';

export const PLX_CONTINUOUS_MEASUREMENT = 'PLX Continuous Measurement';

export interface PlxContinuousMeasurement extends PlxStatusFields {
  kind: 'plx-continuous';
  flags: number;
  /** Percent. */
  spo2: MeasuredValue;
  /** Beats per minute. */
  pulseRate: MeasuredValue;
  spo2Fast?: MeasuredValue;
  pulseRateFast?: MeasuredValue;
  spo2Slow?: MeasuredValue;
  pulseRateSlow?: MeasuredValue;
  /** Percent. */
  pulseAmplitudeIndex?: MeasuredValue;
}

/** UCUM unit of each numeric field, the stream's own for SpO2 and pulse rate. */
export const PLX_CONTINUOUS_UNITS: FieldUnits<PlxContinuousMeasurement> = {
  flags: '{flags}',
  spo2: componentUcum('spo2', 'spo2'),
  pulseRate: componentUcum('spo2', 'pr'),
  spo2Fast: componentUcum('spo2', 'spo2'),
  pulseRateFast: componentUcum('spo2', 'pr'),
  spo2Slow: componentUcum('spo2', 'spo2'),
  pulseRateSlow: componentUcum('spo2', 'pr'),
  pulseAmplitudeIndex: '%',
  measurementStatus: '{flags}',
  deviceAndSensorStatus: '{flags}',
};

export function decodePlxContinuous(bytes: Uint8Array): Result<PlxContinuousMeasurement> {
  return decodeWith(PLX_CONTINUOUS_MEASUREMENT, bytes, (r) => {
    const flags = r.u8('flags');
    const m: PlxContinuousMeasurement = {
      kind: 'plx-continuous', flags,
      spo2: r.sfloat('SpO2PR-Normal SpO2'),
      pulseRate: r.sfloat('SpO2PR-Normal PR'),
    };
    if (flags & 0x01) {
      m.spo2Fast = r.sfloat('SpO2PR-Fast SpO2');
      m.pulseRateFast = r.sfloat('SpO2PR-Fast PR');
    }
    if (flags & 0x02) {
      m.spo2Slow = r.sfloat('SpO2PR-Slow SpO2');
      m.pulseRateSlow = r.sfloat('SpO2PR-Slow PR');
    }
    if (flags & 0x04) readMeasurementStatus(r, m);
    if (flags & 0x08) readDeviceAndSensorStatus(r, m);
    if (flags & 0x10) m.pulseAmplitudeIndex = r.sfloat('pulse amplitude index');
    return m;
  });
}
