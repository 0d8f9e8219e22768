/**
 * The vital-sign streams Vitalgate carries, each tied to a clinical code and a UCUM unit so that
 * a reading means the same thing on a device, in a sealed batch and on a clinician's chart.
 *
 * LOINC codes are used where LOINC defines the observation. Raw waveforms have no LOINC
 * observation code: ECG carries LOINC's study code (11524-6, EKG study) plus the ISO/IEEE 11073-10101
 * (MDC) code that HL7 waveform messages use; the pleth wave has only its MDC code; accelerometry has
 * neither, and says so with `loinc: null` rather than borrowing an unrelated code.
 *
 * Each stream's numeric `id` is stable forever: it is written into sealed-batch headers, mixed into
 * key derivation, and is the bit index in consent stream bitmasks.
 */

export type StreamName = 'ecg' | 'ppg' | 'hr' | 'spo2' | 'temp' | 'bp' | 'glucose' | 'acc' | 'resp';

export interface ComponentSpec {
  /** LOINC code of this component's observation. */
  readonly loinc: string;
  /** UCUM unit of the value. */
  readonly ucum: string;
  /** Inclusive bounds of a physically possible value: outside them the payload is malformed. */
  readonly min: number;
  readonly max: number;
  readonly optional?: boolean;
}

interface StreamBase {
  readonly name: StreamName;
  readonly id: number;
  readonly title: string;
  /** LOINC code, or null where LOINC defines no observation for this raw waveform. */
  readonly loinc: string | null;
  readonly mdc?: number;
}

export interface WaveformStreamSpec extends StreamBase {
  readonly kind: 'waveform';
  /** UCUM unit of one integer sample. Samples are integers so frames stay compact and exact. */
  readonly ucum: string;
  /** Channel names; samples are interleaved channel by channel when there is more than one. */
  readonly channels: readonly string[];
  readonly sampleMin: number;
  readonly sampleMax: number;
  readonly maxRateHz: number;
}

export interface ScalarStreamSpec extends StreamBase {
  readonly kind: 'scalar';
  /** UCUM unit of the primary component. */
  readonly ucum: string;
  readonly components: Readonly<Record<string, ComponentSpec>>;
  /** Heart rate may carry the RR intervals it was computed from. */
  readonly hasRr?: boolean;
}

export type StreamSpec = WaveformStreamSpec | ScalarStreamSpec;

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

export const STREAMS: Readonly<Record<StreamName, StreamSpec>> = {
  ecg: {
    name: 'ecg', id: 0, kind: 'waveform', title: 'ECG', loinc: '11524-6', mdc: 131328,
    ucum: 'uV', channels: ['lead'], sampleMin: INT32_MIN, sampleMax: INT32_MAX, maxRateHz: 10000,
  },
  ppg: {
    name: 'ppg', id: 1, kind: 'waveform', title: 'PPG (pleth)', loinc: null, mdc: 150452,
    ucum: '{count}', channels: ['pleth'], sampleMin: INT32_MIN, sampleMax: INT32_MAX, maxRateHz: 10000,
  },
  hr: {
    name: 'hr', id: 2, kind: 'scalar', title: 'Heart rate', loinc: '8867-4', ucum: '/min', hasRr: true,
    components: { hr: { loinc: '8867-4', ucum: '/min', min: 0, max: 600 } },
  },
  spo2: {
    name: 'spo2', id: 3, kind: 'scalar', title: 'SpO2', loinc: '59408-5', ucum: '%',
    components: {
      spo2: { loinc: '59408-5', ucum: '%', min: 0, max: 100 },
      pr: { loinc: '8889-8', ucum: '/min', min: 0, max: 600, optional: true },
    },
  },
  temp: {
    name: 'temp', id: 4, kind: 'scalar', title: 'Body temperature', loinc: '8310-5', ucum: 'Cel',
    components: { temp: { loinc: '8310-5', ucum: 'Cel', min: 0, max: 50 } },
  },
  bp: {
    name: 'bp', id: 5, kind: 'scalar', title: 'Blood pressure', loinc: '85354-9', ucum: 'mm[Hg]',
    components: {
      sys: { loinc: '8480-6', ucum: 'mm[Hg]', min: 0, max: 400 },
      dia: { loinc: '8462-4', ucum: 'mm[Hg]', min: 0, max: 400 },
      map: { loinc: '8478-0', ucum: 'mm[Hg]', min: 0, max: 400, optional: true },
      pr: { loinc: '8867-4', ucum: '/min', min: 0, max: 600, optional: true },
    },
  },
  glucose: {
    name: 'glucose', id: 6, kind: 'scalar', title: 'Blood glucose', loinc: '2339-0', ucum: 'mg/dL',
    components: { glucose: { loinc: '2339-0', ucum: 'mg/dL', min: 0, max: 2000 } },
  },
  acc: {
    name: 'acc', id: 7, kind: 'waveform', title: 'Accelerometer', loinc: null,
    ucum: 'mm/s2', channels: ['x', 'y', 'z'], sampleMin: INT32_MIN, sampleMax: INT32_MAX, maxRateHz: 10000,
  },
  resp: {
    name: 'resp', id: 8, kind: 'scalar', title: 'Respiration rate', loinc: '9279-1', ucum: '/min',
    components: { resp: { loinc: '9279-1', ucum: '/min', min: 0, max: 200 } },
  },
};

export const STREAM_NAMES = Object.keys(STREAMS) as StreamName[];

const BY_ID = new Map<number, StreamSpec>(Object.values(STREAMS).map((s) => [s.id, s]));

export function isStreamName(s: string): s is StreamName {
  return Object.prototype.hasOwnProperty.call(STREAMS, s);
}

/** The UCUM unit of one component of a scalar stream (e.g. spo2/pr → "/min"); throws for one that does not exist. */
export function componentUcum(stream: StreamName, component: string): string {
  const spec = STREAMS[stream];
  const c = spec.kind === 'scalar' ? spec.components[component] : undefined;
  if (!c) throw new Error(`stream ${stream} has no component ${component}`);
  return c.ucum;
}

export function streamById(id: number): StreamSpec | undefined {
  return BY_ID.get(id);
}

/** Bitmask with one bit per stream id: the form consents use to name the streams they cover. */
export function streamMask(names: readonly StreamName[]): number {
  let m = 0;
  for (const n of names) m |= 1 << STREAMS[n].id;
  return m >>> 0;
}
