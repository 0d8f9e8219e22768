/**
 * IEEE 11073-20601 "medical" floats (MDER SFLOAT and FLOAT), the number formats of the Bluetooth
 * health characteristics: value = mantissa × 10^exponent, both two's-complement.
 *
 * They are decimal on purpose: the exponent states the device's resolution, so 37.6 °C arrives as
 * (376, -1) and must become the double nearest 37.6, never 37.60000000000001. Five mantissas with a
 * zero exponent are not numbers but statements ("I could not measure"); those come back as an
 * absent reason so no caller can mistake them for a value. The reasons map one-to-one onto FHIR
 * dataAbsentReason as the HL7 PHD implementation guide does (NRes and reserved → `error`).
 */

export type IeeeAbsentReason = 'nan' | 'nres' | 'positive-infinity' | 'negative-infinity' | 'reserved';

export type IeeeFloat = { value: number } | { absent: IeeeAbsentReason };

/**
 * Special values are defined for exponent 0 only (IEEE 11073-20601 MDER; the HL7 PHD IG and Nordic's
 * Android-BLE-Library Data.getFloatValue match the whole words 0x07FF, 0x007FFFFF, …). With any
 * other exponent the same mantissa is an ordinary number: 0xF7FF is 204.7, not NaN.
 */
const SFLOAT_SPECIAL: ReadonlyMap<number, IeeeAbsentReason> = new Map([
  [0x07ff, 'nan'],
  [0x0800, 'nres'],
  [0x07fe, 'positive-infinity'],
  [0x0802, 'negative-infinity'],
  [0x0801, 'reserved'],
]);

const FLOAT_SPECIAL: ReadonlyMap<number, IeeeAbsentReason> = new Map([
  [0x007fffff, 'nan'],
  [0x00800000, 'nres'],
  [0x007ffffe, 'positive-infinity'],
  [0x00800002, 'negative-infinity'],
  [0x00800001, 'reserved'],
]);

/**
 * Parsing the decimal literal "m e x" is correctly rounded for every exponent, whereas m / 10^k is
 * only exact while 10^k is (k ≤ 22) and FLOAT exponents reach -128.
 */
function decimal(mantissa: number, exponent: number): number {
  return Number(`${mantissa}e${exponent}`);
}

/** Decodes a 16-bit SFLOAT given as its unsigned value (already assembled from little-endian bytes). */
export function decodeSfloat(raw: number): IeeeFloat {
  const word = raw & 0xffff;
  const special = SFLOAT_SPECIAL.get(word);
  if (special !== undefined) return { absent: special };
  const exponent = (word >> 12) >= 0x8 ? (word >> 12) - 0x10 : word >> 12;
  const m = word & 0x0fff;
  const mantissa = m >= 0x800 ? m - 0x1000 : m;
  return { value: decimal(mantissa, exponent) };
}

/** Decodes a 32-bit FLOAT given as its unsigned value (already assembled from little-endian bytes). */
export function decodeFloat(raw: number): IeeeFloat {
  const word = raw >>> 0;
  const special = FLOAT_SPECIAL.get(word);
  if (special !== undefined) return { absent: special };
  const e = word >>> 24;
  const exponent = e >= 0x80 ? e - 0x100 : e;
  const m = word & 0x00ffffff;
  const mantissa = m >= 0x800000 ? m - 0x1000000 : m;
  return { value: decimal(mantissa, exponent) };
}

/**
 * A field as the characteristic decoders report it: a plain number, or why there is none. The
 * number form lets callers and test vectors compare values directly; the object form cannot be
 * used in arithmetic by accident.
 */
export type MeasuredValue = number | { absent: IeeeAbsentReason };

export function measured(f: IeeeFloat): MeasuredValue {
  return 'value' in f ? f.value : { absent: f.absent };
}

export function isAbsent(v: MeasuredValue): v is { absent: IeeeAbsentReason } {
  return typeof v !== 'number';
}
