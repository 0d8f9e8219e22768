/**
 * Decoded GATT measurements as Vitalgate reading bodies (docs/formats.md, "Streams" and "Reading
 * payloads"): one stream, UCUM units of that stream, values inside its physical range.
 *
 * Nothing is dropped quietly. A value that cannot become a component (an IEEE special value, a
 * value outside the stream's range, a reading the device itself disowns) is left out and listed
 * in `absent` with its reason, so a caller can count what it did not forward. A reading whose
 * required component is missing is not produced at all: a blood pressure without a systolic
 * value is not a blood pressure. Every body returned has passed protocol's `validateBody`.
 *
 * Conversions, and why:
 * - RR: 1/1024 s → ms as r × 1000 / 1024, not rounded. The result is exact in binary (at most ten
 *   fractional bits), so it is lossless and the original count can be recovered; rounding to 0.1 ms
 *   would discard real resolution that inter-pulse-interval features (BSN key backup) rely on.
 * - °F → Cel: (F − 32) × 5/9, rounded to 0.01 °C (a 0.1 °F device resolves 0.056 °C).
 * - kPa → mm[Hg]: × 7.50062, rounded to 0.1 mmHg (kPa cuffs resolve 0.1 kPa = 0.75 mmHg).
 * - kg/L → mg/dL: × 100 000, an exact decimal shift (1 kg/L = 10^6 mg / 10 dL).
 * - mol/L → mg/dL: × 18 016 (glucose 180.16 g/mol, so 1 mmol/L = 18.016 mg/dL), rounded to 0.1.
 * Values already in the stream's unit pass through untouched.
 */
import {
  MAX_RR_PER_READING, MAX_TS, MIN_TS, STREAMS, validateBody,
  type ReadingBody, type ScalarBody, type StreamName,
} from '@vitalgate/protocol';
import type { BloodPressureMeasurement } from './blood-pressure.js';
import { dateTimeToUtcMs, type GattDateTime } from './date-time.js';
import type { GlucoseMeasurement } from './glucose.js';
import type { HeartRateMeasurement } from './heart-rate.js';
import type { IeeeAbsentReason, MeasuredValue } from './ieee11073.js';
import type { GattMeasurement } from './index.js';
import type { PlxContinuousMeasurement } from './plx-continuous.js';
import type { PlxMeasurementStatusFlag } from './plx-status.js';
import type { PlxSpotCheckMeasurement } from './plx-spot-check.js';
import type { TemperatureMeasurement } from './temperature.js';

export type GattOmissionReason =
  | IeeeAbsentReason
  /** The measurement has no such field (e.g. a glucose record without a concentration). */
  | 'not-present'
  /** The device's clock or date was not known or not set. */
  | 'not-known'
  /** A number outside the stream's physical range (or an RR outside (0, 10000] ms). */
  | 'out-of-range'
  /** More RR intervals than one reading may carry. */
  | 'too-many'
  /** The strap reports that it supports contact detection and has no skin contact. */
  | 'no-skin-contact'
  /** The oximeter's own status calls the value invalid, unavailable, demonstration or test data. */
  | 'device-flagged'
  /** A glucose test of control solution, not of the patient. */
  | 'control-solution'
  /** The assembled body failed validateBody (e.g. the caller's seq or ts is invalid). */
  | 'rejected';

export interface GattOmission {
  /** `stream.component` (e.g. 'bp.sys', 'hr.rr[3]'), a stream name for a whole reading, or 'timestamp'. */
  field: string;
  reason: GattOmissionReason;
  detail?: string;
}

export interface GattReading {
  stream: StreamName;
  body: ReadingBody;
}

export interface GattReadings {
  readings: GattReading[];
  absent: GattOmission[];
  /** Where the readings' ts came from. */
  tsSource: 'caller' | 'device';
}

export interface GattReadingOptions {
  /** The device's sequence number for this reading. */
  seq: number;
  /** Reception time, ms since the Unix epoch; used unless device time is asked for and usable. */
  ts: number;
  /**
   * Take ts from the measurement's own timestamp when it has a complete one (and, for PLX
   * spot-checks, the device clock is set). Off by default: device clocks drift and carry no zone.
   */
  useDeviceTime?: boolean;
  /** The device clock's offset from UTC in minutes (60 for a clock on CET). Default 0. */
  deviceUtcOffsetMinutes?: number;
}

/** Readings drop what the device itself says is not a real patient measurement. */
const PLX_DISOWNED: readonly PlxMeasurementStatusFlag[] = [
  'measurement-unavailable', 'invalid-measurement-detected', 'data-for-demonstration', 'data-for-testing',
];

const GLUCOSE_CONTROL_TYPE = 10;
const GLUCOSE_CONTROL_LOCATION = 4;
const MMHG_PER_KPA = 7.50062;
const MG_DL_PER_MOL_L = 18016;

const roundTo = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits;

/** v × 10^k done on the decimal digits, so 0.0012 × 10^5 is 120 and not 120.00000000000001. */
function shiftDecimal(v: number, k: number): number {
  const [m, e] = String(v).split('e');
  return Number(`${m}e${Number(e ?? 0) + k}`);
}

class Builder {
  readonly absent: GattOmission[] = [];
  readonly values: Record<string, number> = {};

  constructor(readonly stream: StreamName) {}

  omit(field: string, reason: GattOmissionReason, detail?: string): void {
    this.absent.push(detail === undefined ? { field, reason } : { field, reason, detail });
  }

  /** Adds one component if the value is a number within the stream's range after conversion. */
  put(name: string, v: MeasuredValue | undefined, convert: (n: number) => number = (n) => n): void {
    if (v === undefined) return;
    const field = `${this.stream}.${name}`;
    if (typeof v !== 'number') return this.omit(field, v.absent);
    const spec = STREAMS[this.stream];
    const c = spec.kind === 'scalar' ? spec.components[name] : undefined;
    const x = convert(v);
    if (c === undefined || !Number.isFinite(x) || x < c.min || x > c.max) {
      return this.omit(field, 'out-of-range', `${x} ${c?.ucum ?? ''}`.trim());
    }
    this.values[name] = x;
  }

  /** True when every required component of the stream is present. */
  complete(): boolean {
    const spec = STREAMS[this.stream];
    if (spec.kind !== 'scalar') return false;
    return Object.entries(spec.components).every(([k, c]) => c.optional || this.values[k] !== undefined);
  }
}

function heartRate(m: HeartRateMeasurement, b: Builder): number[] | undefined {
  if (m.contactSupported && m.contactDetected === false) {
    b.omit('hr', 'no-skin-contact');
    return undefined;
  }
  b.put('hr', m.heartRate);
  if (m.rrIntervals1024 === undefined) return undefined;
  const rr: number[] = [];
  m.rrIntervals1024.forEach((r, i) => {
    const ms = (r * 1000) / 1024;
    if (!(ms > 0 && ms <= 10000)) b.omit(`hr.rr[${i}]`, 'out-of-range', `${ms} ms`);
    else if (rr.length >= MAX_RR_PER_READING) b.omit(`hr.rr[${i}]`, 'too-many');
    else rr.push(ms);
  });
  return rr.length > 0 ? rr : undefined;
}

function temperature(m: TemperatureMeasurement, b: Builder): void {
  b.put('temp', m.temperature, m.unit === '[degF]' ? (f) => roundTo(((f - 32) * 5) / 9, 2) : undefined);
}

function bloodPressure(m: BloodPressureMeasurement, b: Builder): void {
  const toMmHg = m.unit === 'kPa' ? (kpa: number) => roundTo(kpa * MMHG_PER_KPA, 1) : undefined;
  b.put('sys', m.systolic, toMmHg);
  b.put('dia', m.diastolic, toMmHg);
  b.put('map', m.meanArterialPressure, toMmHg);
  b.put('pr', m.pulseRate);
}

function pulseOximetry(m: PlxContinuousMeasurement | PlxSpotCheckMeasurement, b: Builder): void {
  const disowned = (m.measurementStatusFlags ?? []).filter((f) => PLX_DISOWNED.includes(f));
  if (disowned.length > 0) return b.omit('spo2', 'device-flagged', disowned.join(', '));
  b.put('spo2', m.spo2);
  b.put('pr', m.pulseRate);
}

function glucose(m: GlucoseMeasurement, b: Builder): void {
  if (m.concentration === undefined) return b.omit('glucose.glucose', 'not-present');
  if (m.type === GLUCOSE_CONTROL_TYPE || m.sampleLocation === GLUCOSE_CONTROL_LOCATION) {
    return b.omit('glucose', 'control-solution');
  }
  b.put('glucose', m.concentration, m.unit === 'mol/L'
    ? (molL) => roundTo(molL * MG_DL_PER_MOL_L, 1)
    : (kgL) => shiftDecimal(kgL, 5));
}

/** The measurement's own time as a complete wall-clock stamp, or why it has none. */
function deviceTime(m: GattMeasurement): { iso: string } | { notKnown: string } | undefined {
  let t: GattDateTime | undefined;
  switch (m.kind) {
    case 'temperature':
    case 'blood-pressure':
    case 'glucose':
      t = m.timestamp;
      break;
    case 'plx-spot-check':
      if (m.timestamp !== undefined && m.deviceClockNotSet) return { notKnown: 'device clock is not set' };
      t = m.timestamp;
      break;
    default:
      return undefined;
  }
  if (t === undefined) return undefined;
  return typeof t === 'string' ? { iso: t } : { notKnown: 'date not known' };
}

const STREAM_OF: Readonly<Record<GattMeasurement['kind'], StreamName>> = {
  'heart-rate': 'hr',
  temperature: 'temp',
  'blood-pressure': 'bp',
  'plx-spot-check': 'spo2',
  'plx-continuous': 'spo2',
  glucose: 'glucose',
};

/**
 * Maps one decoded measurement to at most one reading (each characteristic feeds one stream), with
 * the reasons for everything left out.
 */
export function gattToReadings(m: GattMeasurement, opts: GattReadingOptions): GattReadings {
  const stream = STREAM_OF[m.kind];
  const b = new Builder(stream);
  let ts = opts.ts;
  let tsSource: GattReadings['tsSource'] = 'caller';

  if (opts.useDeviceTime) {
    const t = deviceTime(m);
    if (t !== undefined && 'iso' in t) {
      const ms = Math.round(dateTimeToUtcMs(t.iso) - (opts.deviceUtcOffsetMinutes ?? 0) * 60_000);
      if (Number.isFinite(ms) && ms >= MIN_TS && ms <= MAX_TS) {
        ts = ms;
        tsSource = 'device';
      } else {
        b.omit('timestamp', 'out-of-range', t.iso);
      }
    } else if (t !== undefined) {
      b.omit('timestamp', 'not-known', t.notKnown);
    }
  }

  let rr: number[] | undefined;
  switch (m.kind) {
    case 'heart-rate': rr = heartRate(m, b); break;
    case 'temperature': temperature(m, b); break;
    case 'blood-pressure': bloodPressure(m, b); break;
    case 'plx-spot-check':
    case 'plx-continuous': pulseOximetry(m, b); break;
    case 'glucose': glucose(m, b); break;
  }

  const readings: GattReading[] = [];
  if (b.complete()) {
    const body: ScalarBody = { seq: opts.seq, ts, values: b.values };
    if (rr !== undefined) body.rr = rr;
    const checked = validateBody(stream, body);
    if (checked.ok) readings.push({ stream, body: checked.value });
    else b.omit(stream, 'rejected', checked.reason);
  }
  return { readings, absent: b.absent, tsSource };
}
