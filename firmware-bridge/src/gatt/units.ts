/**
 * Decoded GATT values in physical units, for people and for anything that shows them: every
 * numeric field becomes `{ value, unit }` (an absent IEEE 11073 value `{ absent, unit }`, a list
 * `{ values, unit }`), with UCUM units that come from each characteristic's own file (`*_UNITS`,
 * which take them from the flags where the value announces its unit, else from protocol's stream
 * definitions). RR intervals are given in seconds and milliseconds beside the raw 1/1024 s values,
 * exactly: k/1024 has a finite decimal expansion and is a double.
 *
 * Codes and bit fields are numbers too; they carry UCUM's dimensionless annotations ({flags},
 * {code}, {id}, {count}), and a date the device did not fully know keeps its parts, each named.
 */
import type { GattMeasurement } from './index.js';

/** A UCUM unit per numeric field, fixed or read from the measurement itself. */
export type FieldUnits<M> = { readonly [K in keyof M]?: string | ((m: M) => string) };

export type Quantity = { value: number; unit: string } | { absent: string; unit: string };
export type PhysicalValue = Quantity | { values: number[]; unit: string } | string | boolean | string[] | { absent: string; parts: Record<string, Quantity> };
export type GattPhysical = { kind: GattMeasurement['kind'] } & Record<string, PhysicalValue>;

const DATE_PARTS: Readonly<Record<string, string>> = { year: '{year}', month: '{month}', day: '{day}', hours: 'h', minutes: 'min', seconds: 's' };

/**
 * The measurement with a unit on every number. Throws when a numeric field has no unit in its
 * characteristic's table: a decoder that grows a field must say what it measures.
 */
export function gattWithUnits<M extends GattMeasurement>(m: M, units: FieldUnits<M>): GattPhysical {
  const out: Record<string, PhysicalValue> = {};
  for (const [k, v] of Object.entries(m) as Array<[string, unknown]>) {
    if (v === undefined) continue;
    const given = units[k as keyof M];
    const unit = typeof given === 'function' ? (given as (m: M) => string)(m) : (given as string | undefined);
    if (typeof v === 'number' || (Array.isArray(v) && v.every((x) => typeof x === 'number') && v.length > 0) || (isObject(v) && 'absent' in v && !('parts' in v))) {
      if (unit === undefined) throw new Error(`GATT ${m.kind}: field ${k} has no unit`);
      out[k] = typeof v === 'number' ? { value: v, unit } : Array.isArray(v) ? { values: v as number[], unit } : { absent: String((v as { absent: unknown }).absent), unit };
    } else if (isObject(v) && 'parts' in v) {
      const parts = Object.fromEntries(Object.entries(v.parts as Record<string, number>).map(([p, n]) => [p, { value: n, unit: DATE_PARTS[p] ?? '1' }]));
      out[k] = { absent: String(v.absent), parts };
    } else out[k] = v as PhysicalValue;
  }
  if (m.kind === 'heart-rate' && m.rrIntervals1024) {
    out.rrIntervalsS = { values: m.rrIntervals1024.map((r) => r / 1024), unit: 's' };
    out.rrIntervalsMs = { values: m.rrIntervals1024.map((r) => (r * 1000) / 1024), unit: 'ms' };
  }
  return out as GattPhysical;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
