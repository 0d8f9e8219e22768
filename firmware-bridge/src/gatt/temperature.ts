/**
 * Temperature Measurement, 0x2A1C (Health Thermometer Service 1.0; GSS).
 *
 *   flags u8 | temperature FLOAT | timestamp Date Time (bit 1) | temperature type u8 (bit 2)
 *
 * Bit 0 is the unit: 0 = Celsius, 1 = Fahrenheit. Units are given as UCUM codes so they can be
 * compared with the stream table without translation.
 */
import type { Result } from '@vitalgate/protocol';
import type { FieldUnits } from './units.js';
import { type GattDateTime, readDateTime } from './date-time.js';
import type { MeasuredValue } from './ieee11073.js';
import { decodeWith } from './reader.js';

export const TEMPERATURE_MEASUREMENT = 'Temperature Measurement';

/** Temperature Type 0x2A1D values; 0 and 10–255 are reserved. */
export const TEMPERATURE_TYPES: Readonly<Record<number, string>> = {
  1: 'armpit', 2: 'body', 3: 'ear', 4: 'finger', 5: 'gastrointestinal-tract',
  6: 'mouth', 7: 'rectum', 8: 'toe', 9: 'tympanum',
};

export interface TemperatureMeasurement {
  kind: 'temperature';
  flags: number;
  temperature: MeasuredValue;
  unit: 'Cel' | '[degF]';
  timestamp?: GattDateTime;
  temperatureType?: number;
  /** Name of the measurement site, or 'reserved' for a value this spec version does not define. */
  temperatureTypeName?: string;
}

/** UCUM unit of each numeric field: the temperature's is the one the flags announce. */
export const TEMPERATURE_UNITS: FieldUnits<TemperatureMeasurement> = {
  flags: '{flags}',
  temperature: (m) => m.unit,
  temperatureType: '{code}',
};

export function decodeTemperature(bytes: Uint8Array): Result<TemperatureMeasurement> {
  return decodeWith(TEMPERATURE_MEASUREMENT, bytes, (r) => {
    const flags = r.u8('flags');
    const m: TemperatureMeasurement = {
      kind: 'temperature', flags,
      temperature: r.float('temperature'),
      unit: flags & 0x01 ? '[degF]' : 'Cel',
    };
    if (flags & 0x02) m.timestamp = readDateTime(r, 'timestamp');
    if (flags & 0x04) {
      m.temperatureType = r.u8('temperature type');
      m.temperatureTypeName = TEMPERATURE_TYPES[m.temperatureType] ?? 'reserved';
    }
    return m;
  });
}
