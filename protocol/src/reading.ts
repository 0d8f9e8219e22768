/**
 * The reading model: what one device message carries, after decoding and validation.
 *
 * A reading's `body` is everything the device says; `deviceId` and `stream` come from where it was
 * said (the MQTT topic or the serial frame), so a device cannot claim to be another one in its body.
 */
import { STREAMS, type StreamName, type StreamSpec } from './streams.js';

/** Earliest and latest plausible device timestamps: a clock outside them is broken, not early. */
export const MIN_TS = Date.UTC(2000, 0, 1);
export const MAX_TS = Date.UTC(2200, 0, 1);
/** Bounds a single waveform frame so one message cannot balloon a batch. */
export const MAX_SAMPLES_PER_FRAME = 8192;
export const MAX_RR_PER_READING = 64;

export interface WaveformBody {
  /** Per-device sequence number, shared by all the device's streams. */
  seq: number;
  /** Time of the first sample, ms since the Unix epoch. */
  ts: number;
  rate: number;
  /** Integer samples in the stream's UCUM unit, interleaved by channel. */
  samples: number[];
}

export interface ScalarBody {
  seq: number;
  ts: number;
  values: Record<string, number>;
  /** RR intervals in ms (heart rate only), oldest first. */
  rr?: number[];
}

export type ReadingBody = WaveformBody | ScalarBody;

export interface Reading {
  deviceId: string;
  stream: StreamName;
  body: ReadingBody;
}

export type Result<T> = { ok: true; value: T } | { ok: false; reason: string };

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });
export const fail = <T = never>(reason: string): Result<T> => ({ ok: false, reason });

export function isWaveformBody(b: ReadingBody): b is WaveformBody {
  return (b as WaveformBody).samples !== undefined;
}

/** Time of the last sample (waveforms) or of the value (scalars), ms since the Unix epoch. */
export function lastSampleTs(stream: StreamName, b: ReadingBody): number {
  if (!isWaveformBody(b)) return b.ts;
  const spec = STREAMS[stream];
  const perChannel = b.samples.length / (spec.kind === 'waveform' ? spec.channels.length : 1);
  return b.ts + Math.round(((perChannel - 1) * 1000) / b.rate);
}

/** Number of samples (per channel for waveforms) a body represents, used for throughput figures. */
export function sampleCount(stream: StreamName, b: ReadingBody): number {
  const spec = STREAMS[stream];
  if (spec.kind === 'waveform' && isWaveformBody(b)) return b.samples.length / spec.channels.length;
  return 1;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && !(x instanceof Uint8Array);
}

const isUint = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

/**
 * Checks that an untrusted, already-parsed object is a well-formed body for `stream`.
 * Unknown fields are refused rather than ignored: a field we would drop is data lost silently.
 * A reason names the field and the rule, never the value: reasons are logged, and a vital sign in
 * a log is plaintext outside the trust boundary.
 */
export function validateBody(stream: StreamName, raw: unknown): Result<ReadingBody> {
  const spec: StreamSpec = STREAMS[stream];
  if (!isPlainObject(raw)) return fail('payload is not an object');
  if (!isUint(raw.seq)) return fail('seq must be a non-negative integer');
  if (!isUint(raw.ts)) return fail('ts must be an integer (ms since the Unix epoch)');
  if (raw.ts < MIN_TS || raw.ts > MAX_TS) return fail('ts is outside 2000-01-01..2200-01-01');

  if (spec.kind === 'waveform') {
    for (const k of Object.keys(raw)) {
      if (k !== 'seq' && k !== 'ts' && k !== 'rate' && k !== 'samples') return fail(`unknown field "${k}" for ${stream}`);
    }
    const rate = raw.rate;
    if (typeof rate !== 'number' || !Number.isFinite(rate) || rate <= 0 || rate > spec.maxRateHz) {
      return fail(`rate must be a number in (0, ${spec.maxRateHz}] Hz`);
    }
    const samples = raw.samples;
    if (!Array.isArray(samples)) return fail('samples must be an array');
    if (samples.length === 0) return fail('samples is empty');
    if (samples.length > MAX_SAMPLES_PER_FRAME) return fail(`more than ${MAX_SAMPLES_PER_FRAME} samples in one frame`);
    if (samples.length % spec.channels.length !== 0) {
      return fail(`${samples.length} samples do not divide into ${spec.channels.length} channels`);
    }
    for (let i = 0; i < samples.length; i++) {
      const v = samples[i];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < spec.sampleMin || v > spec.sampleMax) {
        return fail(`sample ${i} is not an integer in ${spec.ucum}`);
      }
    }
    return ok({ seq: raw.seq, ts: raw.ts, rate, samples: samples as number[] });
  }

  for (const k of Object.keys(raw)) {
    if (k !== 'seq' && k !== 'ts' && k !== 'values' && !(k === 'rr' && spec.hasRr)) return fail(`unknown field "${k}" for ${stream}`);
  }
  if (!isPlainObject(raw.values)) return fail('values must be an object');
  const values: Record<string, number> = {};
  for (const k of Object.keys(raw.values)) {
    const c = spec.components[k];
    if (!c) return fail(`unknown component "${k}" for ${stream}`);
    const v = raw.values[k];
    if (typeof v !== 'number' || !Number.isFinite(v)) return fail(`${k} must be a finite number`);
    if (v < c.min || v > c.max) return fail(`${k} is outside ${c.min}..${c.max} ${c.ucum}`);
    values[k] = v;
  }
  for (const [k, c] of Object.entries(spec.components)) {
    if (!c.optional && values[k] === undefined) return fail(`missing component "${k}"`);
  }
  const body: ScalarBody = { seq: raw.seq, ts: raw.ts, values };
  if (raw.rr !== undefined) {
    if (!Array.isArray(raw.rr)) return fail('rr must be an array of ms');
    if (raw.rr.length > MAX_RR_PER_READING) return fail(`more than ${MAX_RR_PER_READING} RR intervals`);
    for (const r of raw.rr) {
      if (typeof r !== 'number' || !Number.isFinite(r) || r <= 0 || r > 10000) return fail('each rr must be a number of ms in (0, 10000]');
    }
    body.rr = raw.rr as number[];
  }
  return ok(body);
}
