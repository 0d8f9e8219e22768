/**
 * The Bluetooth "Date Time" field (GATT Specification Supplement, Date Time 0x2A08): year uint16,
 * then month, day, hours, minutes, seconds as uint8. It carries no time zone: it is the device's
 * wall clock, which is why readings do not take their timestamp from it unless a caller asks.
 *
 * Year, month and day may be 0, meaning "not known" (a cuff whose clock was never set). Such a
 * stamp is reported as not known, with its parts, instead of being guessed into a date. Values
 * outside the defined ranges are reserved; a payload using them is refused as inconsistent.
 */
import type { ByteReader } from './reader.js';

export const DATE_TIME_BYTES = 7;

export interface DateTimeParts {
  /** 1582..9999, or 0 when not known. */
  year: number;
  /** 1..12, or 0 when not known. */
  month: number;
  /** 1..31, or 0 when not known. */
  day: number;
  hours: number;
  minutes: number;
  seconds: number;
}

export interface DateTimeNotKnown {
  absent: 'not-known';
  parts: DateTimeParts;
}

/** 'YYYY-MM-DDTHH:MM:SS' (device wall-clock time), or why there is no full date. */
export type GattDateTime = string | DateTimeNotKnown;

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

function daysInMonth(year: number, month: number): number {
  // With the year unknown, 29 February must still be accepted.
  if (month === 2) return year === 0 || (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

export function formatDateTime(p: DateTimeParts): string {
  return `${pad(p.year, 4)}-${pad(p.month)}-${pad(p.day)}T${pad(p.hours)}:${pad(p.minutes)}:${pad(p.seconds)}`;
}

export function readDateTime(r: ByteReader, field: string): GattDateTime {
  const at = r.offset;
  const year = r.u16(`${field} year`);
  const month = r.u8(`${field} month`);
  const day = r.u8(`${field} day`);
  const hours = r.u8(`${field} hours`);
  const minutes = r.u8(`${field} minutes`);
  const seconds = r.u8(`${field} seconds`);
  const bad = (what: string, v: number, range: string) =>
    r.inconsistent(`${field} ${what} ${v} (at offset ${at}) is outside ${range}`);
  if (year !== 0 && (year < 1582 || year > 9999)) bad('year', year, '1582..9999 (0 = not known)');
  if (month > 12) bad('month', month, '1..12 (0 = not known)');
  if (day > 31) bad('day', day, '1..31 (0 = not known)');
  if (hours > 23) bad('hours', hours, '0..23');
  if (minutes > 59) bad('minutes', minutes, '0..59');
  if (seconds > 59) bad('seconds', seconds, '0..59');
  if (month !== 0 && day !== 0 && day > daysInMonth(year, month)) {
    r.inconsistent(`${field} day ${day} (at offset ${at}) does not exist in month ${month}${year ? ` of ${year}` : ''}`);
  }
  const parts: DateTimeParts = { year, month, day, hours, minutes, seconds };
  if (year === 0 || month === 0 || day === 0) return { absent: 'not-known', parts };
  return formatDateTime(parts);
}

/** Milliseconds since the Unix epoch of a wall-clock stamp read as if it were UTC. */
export function dateTimeToUtcMs(iso: string): number {
  return Date.parse(`${iso}Z`);
}

/**
 * Shifts a wall-clock stamp by whole minutes (the glucose Time Offset). Undefined when the result
 * leaves the years a Date Time can express.
 */
export function addMinutes(iso: string, minutes: number): string | undefined {
  const d = new Date(dateTimeToUtcMs(iso) + minutes * 60_000);
  const year = d.getUTCFullYear();
  if (!Number.isFinite(d.getTime()) || year < 1582 || year > 9999) return undefined;
  return formatDateTime({
    year, month: d.getUTCMonth() + 1, day: d.getUTCDate(),
    hours: d.getUTCHours(), minutes: d.getUTCMinutes(), seconds: d.getUTCSeconds(),
  });
}
