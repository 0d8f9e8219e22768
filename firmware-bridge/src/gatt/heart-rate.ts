/**
 * Heart Rate Measurement, 0x2A37 (Heart Rate Service 1.0; GSS "Heart Rate Measurement").
 *
 *   flags u8 | heart rate u8 or u16 (bit 0) | energy expended u16 kJ (bit 3) | RR intervals u16… (bit 4)
 *
 * Bits 1–2 are the sensor-contact status: 0 or 1 = feature not supported, 2 = supported but no
 * contact, 3 = supported and in contact. RR intervals fill the rest of the value, in 1/1024 s,
 * oldest first; the flag promises at least one.
 */
import { componentUcum, type Result } from '@vitalgate/protocol';
import type { FieldUnits } from './units.js';
import { decodeWith } from './reader.js';

export const HEART_RATE_MEASUREMENT = 'Heart Rate Measurement';

export interface HeartRateMeasurement {
  kind: 'heart-rate';
  flags: number;
  /** Beats per minute. */
  heartRate: number;
  contactSupported: boolean;
  /** Present only when the sensor supports contact detection. */
  contactDetected?: boolean;
  /** Kilojoules since the last reset; 65535 means "at least 65535" (the counter saturates). */
  energyExpended?: number;
  /** RR intervals in units of 1/1024 s, oldest first. */
  rrIntervals1024?: number[];
}

/** UCUM unit of each numeric field (the RR intervals' seconds and ms are added by gattWithUnits). */
export const HEART_RATE_UNITS: FieldUnits<HeartRateMeasurement> = {
  flags: '{flags}',
  heartRate: componentUcum('hr', 'hr'),
  energyExpended: 'kJ',
  rrIntervals1024: 's/1024',
};

export function decodeHeartRate(bytes: Uint8Array): Result<HeartRateMeasurement> {
  return decodeWith(HEART_RATE_MEASUREMENT, bytes, (r) => {
    const flags = r.u8('flags');
    const heartRate = flags & 0x01 ? r.u16('heart rate (uint16)') : r.u8('heart rate (uint8)');
    const contact = (flags >> 1) & 0x03;
    const m: HeartRateMeasurement = { kind: 'heart-rate', flags, heartRate, contactSupported: contact >= 2 };
    if (contact >= 2) m.contactDetected = contact === 3;
    if (flags & 0x08) m.energyExpended = r.u16('energy expended');
    if (flags & 0x10) {
      const rr: number[] = [];
      // At least one interval: the flag set with nothing after it is a truncated value.
      do rr.push(r.u16('RR interval'));
      while (r.remaining > 0);
      m.rrIntervals1024 = rr;
    }
    return m;
  });
}
