/**
 * The status words both PLX measurements share (Pulse Oximeter Service 1.0.1 and
 * GSS "PLX Spot-check Measurement" / "PLX Continuous Measurement"):
 *
 *   Measurement Status          u16, bits 0–4 RFU, 5–15 as below
 *   Device and Sensor Status    u24, bits 0–15 as below, 16–23 RFU
 */
import { namedBits } from './bits.js';
import type { ByteReader } from './reader.js';

export type PlxMeasurementStatusFlag =
  | 'measurement-ongoing' | 'early-estimated-data' | 'validated-data' | 'fully-qualified-data'
  | 'data-from-measurement-storage' | 'data-for-demonstration' | 'data-for-testing'
  | 'calibration-ongoing' | 'measurement-unavailable' | 'questionable-measurement-detected'
  | 'invalid-measurement-detected';

const MEASUREMENT_STATUS_BITS: readonly (PlxMeasurementStatusFlag | undefined)[] = [
  undefined, undefined, undefined, undefined, undefined,
  'measurement-ongoing', 'early-estimated-data', 'validated-data', 'fully-qualified-data',
  'data-from-measurement-storage', 'data-for-demonstration', 'data-for-testing',
  'calibration-ongoing', 'measurement-unavailable', 'questionable-measurement-detected',
  'invalid-measurement-detected',
];

export type PlxDeviceStatusFlag =
  | 'extended-display-update-ongoing' | 'equipment-malfunction-detected'
  | 'signal-processing-irregularity-detected' | 'inadequate-signal-detected' | 'poor-signal-detected'
  | 'low-perfusion-detected' | 'erratic-signal-detected' | 'nonpulsatile-signal-detected'
  | 'questionable-pulse-detected' | 'signal-analysis-ongoing' | 'sensor-interference-detected'
  | 'sensor-unconnected-to-user' | 'unknown-sensor-connected' | 'sensor-displaced'
  | 'sensor-malfunctioning' | 'sensor-disconnected';

const DEVICE_STATUS_BITS: readonly (PlxDeviceStatusFlag | undefined)[] = [
  'extended-display-update-ongoing', 'equipment-malfunction-detected',
  'signal-processing-irregularity-detected', 'inadequate-signal-detected', 'poor-signal-detected',
  'low-perfusion-detected', 'erratic-signal-detected', 'nonpulsatile-signal-detected',
  'questionable-pulse-detected', 'signal-analysis-ongoing', 'sensor-interference-detected',
  'sensor-unconnected-to-user', 'unknown-sensor-connected', 'sensor-displaced',
  'sensor-malfunctioning', 'sensor-disconnected',
];

export interface PlxStatusFields {
  measurementStatus?: number;
  measurementStatusFlags?: PlxMeasurementStatusFlag[];
  deviceAndSensorStatus?: number;
  deviceAndSensorStatusFlags?: PlxDeviceStatusFlag[];
}

export function readMeasurementStatus(r: ByteReader, into: PlxStatusFields): void {
  const s = r.u16('measurement status');
  into.measurementStatus = s;
  into.measurementStatusFlags = namedBits(s, MEASUREMENT_STATUS_BITS);
}

export function readDeviceAndSensorStatus(r: ByteReader, into: PlxStatusFields): void {
  const s = r.u24('device and sensor status');
  into.deviceAndSensorStatus = s;
  into.deviceAndSensorStatusFlags = namedBits(s, DEVICE_STATUS_BITS);
}
