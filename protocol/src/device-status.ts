/**
 * A device's status report: what it says about itself rather than about the patient. Published
 * retained on `vg/v1/{patient}/{device}/status` as UTF-8 JSON, for example
 *
 *   {"battery": 14, "leadOff": true}
 *
 *   battery       integer 0..100, percent (optional: some sensors cannot tell)
 *   leadOff       true when an electrode has lost skin contact (optional, default false)
 *   sensorError   true when the sensor reports a fault (optional, default false)
 *
 * The gateway seals these into the minute summaries (summary.ts), so a chart can mark lead-off and
 * low battery where they happened. Unknown fields are refused, as for readings.
 */
import { fail, ok, type Result } from './reading.js';

export interface DeviceStatusReport {
  battery?: number;
  leadOff?: boolean;
  sensorError?: boolean;
}

/** A status report is small; anything larger is not one. */
export const MAX_STATUS_BYTES = 1024;
/** At or below this battery percentage a device is shown as low on battery. */
export const LOW_BATTERY_PERCENT = 15;

/** Checks an already-parsed value. Never throws. */
export function validateDeviceStatus(raw: unknown): Result<DeviceStatusReport> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return fail('status is not an object');
  const r = raw as Record<string, unknown>;
  const out: DeviceStatusReport = {};
  for (const k of Object.keys(r)) {
    const v = r[k];
    if (k === 'battery') {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 100) return fail('battery must be an integer percentage 0..100');
      out.battery = v;
    } else if (k === 'leadOff' || k === 'sensorError') {
      if (typeof v !== 'boolean') return fail(`${k} must be true or false`);
      out[k] = v;
    } else {
      return fail(`unknown status field "${k.slice(0, 32)}"`);
    }
  }
  return ok(out);
}

/** Parses a status payload from the wire. Never throws. */
export function parseDeviceStatus(bytes: Uint8Array): Result<DeviceStatusReport> {
  if (bytes.length > MAX_STATUS_BYTES) return fail(`status of ${bytes.length} bytes exceeds ${MAX_STATUS_BYTES}`);
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return fail('status is not UTF-8 JSON');
  }
  return validateDeviceStatus(raw);
}
