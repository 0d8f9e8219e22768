/**
 * One entry point for the Bluetooth health characteristics the gateway understands: pick the
 * decoder by characteristic UUID, in any of the spellings BLE stacks hand out.
 *
 * `decodeGatt` never throws. Whatever arrives over the air (short, long, garbage, or not bytes at
 * all) comes back as `{ ok: false, reason }`, so one bad notification cannot stop a source loop.
 */
import { fail, type Result } from '@vitalgate/protocol';
import { type BloodPressureMeasurement, BLOOD_PRESSURE_MEASUREMENT, BLOOD_PRESSURE_UNITS, decodeBloodPressure } from './blood-pressure.js';
import { decodeGlucose, GLUCOSE_MEASUREMENT, GLUCOSE_UNITS, type GlucoseMeasurement } from './glucose.js';
import { decodeHeartRate, HEART_RATE_MEASUREMENT, HEART_RATE_UNITS, type HeartRateMeasurement } from './heart-rate.js';
import { decodePlxContinuous, PLX_CONTINUOUS_MEASUREMENT, PLX_CONTINUOUS_UNITS, type PlxContinuousMeasurement } from './plx-continuous.js';
import { decodePlxSpotCheck, PLX_SPOT_CHECK_MEASUREMENT, PLX_SPOT_CHECK_UNITS, type PlxSpotCheckMeasurement } from './plx-spot-check.js';
import { decodeTemperature, TEMPERATURE_MEASUREMENT, TEMPERATURE_UNITS, type TemperatureMeasurement } from './temperature.js';
import { gattWithUnits, type FieldUnits, type GattPhysical } from './units.js';

export type GattMeasurement =
  | HeartRateMeasurement
  | TemperatureMeasurement
  | BloodPressureMeasurement
  | PlxSpotCheckMeasurement
  | PlxContinuousMeasurement
  | GlucoseMeasurement;

export type GattResult = { ok: true; value: GattMeasurement } | { ok: false; reason: string };

/** Assigned 16-bit UUIDs (lowercase hex) of the supported characteristics, with their SIG names. */
export const GATT_CHARACTERISTICS: Readonly<Record<string, string>> = Object.freeze({
  '2a37': HEART_RATE_MEASUREMENT,
  '2a1c': TEMPERATURE_MEASUREMENT,
  '2a35': BLOOD_PRESSURE_MEASUREMENT,
  '2a5e': PLX_SPOT_CHECK_MEASUREMENT,
  '2a5f': PLX_CONTINUOUS_MEASUREMENT,
  '2a18': GLUCOSE_MEASUREMENT,
});

const DECODERS: Readonly<Record<string, (b: Uint8Array) => Result<GattMeasurement>>> = {
  '2a37': decodeHeartRate,
  '2a1c': decodeTemperature,
  '2a35': decodeBloodPressure,
  '2a5e': decodePlxSpotCheck,
  '2a5f': decodePlxContinuous,
  '2a18': decodeGlucose,
};

/** Each characteristic's units, by the kind its decoder returns. */
const UNITS: { readonly [K in GattMeasurement['kind']]: FieldUnits<Extract<GattMeasurement, { kind: K }>> } = {
  'heart-rate': HEART_RATE_UNITS,
  temperature: TEMPERATURE_UNITS,
  'blood-pressure': BLOOD_PRESSURE_UNITS,
  'plx-spot-check': PLX_SPOT_CHECK_UNITS,
  'plx-continuous': PLX_CONTINUOUS_UNITS,
  glucose: GLUCOSE_UNITS,
};

/** A decoded measurement with a UCUM unit on every number (units.ts). */
export function measurementWithUnits(m: GattMeasurement): GattPhysical {
  return gattWithUnits(m, UNITS[m.kind] as FieldUnits<GattMeasurement>);
}

/** decodeGatt, then every numeric field in physical units: what `vitalgate decode gatt` prints. */
export function decodeGattWithUnits(uuid: string | number, bytes: Uint8Array): { ok: true; value: GattPhysical } | { ok: false; reason: string } {
  const r = decodeGatt(uuid, bytes);
  return r.ok ? { ok: true, value: measurementWithUnits(r.value) } : r;
}

/** The Bluetooth Base UUID: a 16-bit UUID xxxx stands for 0000xxxx-0000-1000-8000-00805F9B34FB. */
const BASE_UUID = /^0000([0-9a-f]{4})-0000-1000-8000-00805f9b34fb$/;

/**
 * Normalises '2a37', '0x2A37', 0x2a37, '00002a37' and the full 128-bit base-UUID form to '2a37'.
 * Undefined when the input is none of those.
 */
export function gattShortUuid(uuid: unknown): string | undefined {
  if (typeof uuid === 'number') {
    return Number.isInteger(uuid) && uuid >= 0 && uuid <= 0xffff ? uuid.toString(16).padStart(4, '0') : undefined;
  }
  if (typeof uuid !== 'string') return undefined;
  const s = uuid.trim().toLowerCase();
  const short = /^(?:0x)?(?:0000)?([0-9a-f]{4})$/.exec(s) ?? BASE_UUID.exec(s);
  return short?.[1];
}

function describeUuid(uuid: unknown): string {
  try {
    return typeof uuid === 'string' ? JSON.stringify(uuid.slice(0, 64)) : String(uuid);
  } catch {
    return 'an unprintable value';
  }
}

export function decodeGatt(uuid: string | number, bytes: Uint8Array): GattResult {
  try {
    const short = gattShortUuid(uuid);
    if (short === undefined) {
      return fail(`not a GATT characteristic UUID: ${describeUuid(uuid)} (expected e.g. '2a37', '0x2A37', 0x2a37 or the 128-bit base UUID form)`);
    }
    const decoder = DECODERS[short];
    if (decoder === undefined) {
      const known = Object.entries(GATT_CHARACTERISTICS).map(([u, n]) => `0x${u} ${n}`).join(', ');
      return fail(`unknown GATT characteristic 0x${short}: supported are ${known}`);
    }
    return decoder(bytes);
  } catch (e) {
    // The decoders already catch; this is the last line should that ever change.
    return fail(`GATT decoder fault: ${e instanceof Error ? e.message : 'unknown error'}`);
  }
}

export * from './encode.js';
export { gattWithUnits, type FieldUnits, type GattPhysical, type PhysicalValue, type Quantity } from './units.js';
export { decodeSfloat, decodeFloat, isAbsent, type IeeeAbsentReason, type IeeeFloat, type MeasuredValue } from './ieee11073.js';
export { GattDecodeError, MAX_ATTRIBUTE_BYTES } from './reader.js';
export { type DateTimeNotKnown, type DateTimeParts, type GattDateTime } from './date-time.js';
export { decodeHeartRate, type HeartRateMeasurement } from './heart-rate.js';
export { decodeTemperature, TEMPERATURE_TYPES, type TemperatureMeasurement } from './temperature.js';
export {
  decodeBloodPressure, UNKNOWN_USER_ID, type BloodPressureMeasurement, type BpStatusFlag, type PulseRateRange,
} from './blood-pressure.js';
export { type PlxDeviceStatusFlag, type PlxMeasurementStatusFlag } from './plx-status.js';
export { decodePlxContinuous, type PlxContinuousMeasurement } from './plx-continuous.js';
export { decodePlxSpotCheck, type PlxSpotCheckMeasurement } from './plx-spot-check.js';
export {
  decodeGlucose, GLUCOSE_SAMPLE_LOCATIONS, GLUCOSE_TYPES, type GlucoseMeasurement, type GlucoseSensorStatusFlag,
} from './glucose.js';
export {
  gattToReadings, type GattReading, type GattReadingOptions, type GattReadings, type GattOmission, type GattOmissionReason,
} from './to-readings.js';
