/**
 * Waveform readings (ECG, PPG) ↔ Observations with `valueSampledData`, each at most
 * `maxSeconds` long.
 *
 * Consecutive frames of one device and stream are joined while they are contiguous (each frame
 * starts within 1 ms of where the segment's sampling clock puts it, at the same rate); a gap, a
 * rate change or the length bound starts a new Observation, and a frame longer than the bound is
 * cut across Observations. Samples are the stream's integers in its UCUM unit: origin 0, factor 1,
 * period 1000 / rate ms, one dimension per channel (interleaved, as readings carry them).
 *
 * Each Observation lists the frames it holds in the reading-frames extension, as space-separated
 * `seq:offset:count` (offset = the frame's ts minus the segment start, ms; count = samples per
 * channel; a leading `+` marks the rest of a frame cut at the previous Observation's end), so the
 * reverse mapping gives back every frame with its own seq and ts.
 */
import { STREAMS, type StreamName, type WaveformStreamSpec } from '../streams.js';
import type { WaveformBody } from '../reading.js';
import { FRAMES_EXT, ID_SYSTEM, OBSERVATION_CATEGORY, UCUM, WAVEFORM_MAPPINGS } from './codes.js';
import { category, gatewayExtension, quantity, type ObservationContext } from './observations.js';
import { isoMs, nameUuid, parseIsoMs } from './refs.js';
import type { FhirReading, Observation } from './types.js';

export const DEFAULT_MAX_WAVEFORM_SECONDS = 10;

export function isWaveformMapped(stream: StreamName): boolean {
  return WAVEFORM_MAPPINGS[stream] !== undefined;
}

/** A frame's part inside one segment. */
interface Piece { reading: FhirReading & { body: WaveformBody }; from: number; count: number; cont: boolean }

export interface WaveformSegment {
  observation: Observation;
  /** The readings whose samples it holds (for Provenance targets). */
  readings: FhirReading[];
}

/**
 * The rate whose period 1000 / rate is `period`, as the shortest decimal that gives it back: a
 * device states its rate as a short decimal (250, 62.5), and that is the one recovered exactly.
 */
export function rateFromPeriod(period: number): number {
  const guess = 1000 / period;
  for (let p = 1; p <= 17; p++) {
    const r = Number(guess.toPrecision(p));
    if (1000 / r === period) return r;
  }
  return guess;
}

/** Splits one device's frames of one stream (in time order) into bounded, contiguous segments. */
function segments(frames: ReadonlyArray<FhirReading & { body: WaveformBody }>, channels: number, maxSeconds: number): Piece[][] {
  const out: Piece[][] = [];
  let cur: Piece[] = [];
  let rate = NaN;
  let startExact = 0; // ms of the segment's first sample, unrounded
  let filled = 0; // samples per channel in the segment
  let max = 0;
  const close = () => {
    if (cur.length > 0) out.push(cur);
    cur = [];
    filled = 0;
  };
  for (const f of frames) {
    const n = f.body.samples.length / channels;
    const contiguous = cur.length > 0 && f.body.rate === rate && Math.abs(f.body.ts - (startExact + (filled * 1000) / rate)) <= 1;
    if (!contiguous) {
      close();
      rate = f.body.rate;
      max = Math.max(1, Math.floor(rate * maxSeconds));
      startExact = f.body.ts;
    }
    let from = 0;
    while (from < n) {
      if (filled === max) {
        close();
        startExact = f.body.ts + (from * 1000) / rate;
      }
      const count = Math.min(n - from, max - filled);
      cur.push({ reading: f, from, count, cont: from > 0 });
      filled += count;
      from += count;
    }
  }
  close();
  return out;
}

function segmentObservation(patientId: string, stream: StreamName, pieces: Piece[], ctx: ObservationContext): Observation {
  const spec = STREAMS[stream] as WaveformStreamSpec;
  const C = spec.channels.length;
  const first = pieces[0]!;
  const rate = first.reading.body.rate;
  const start = Math.round(first.reading.body.ts + (first.from * 1000) / rate);
  let total = 0;
  const data: number[][] = [];
  const frames: string[] = [];
  for (const p of pieces) {
    const b = p.reading.body;
    data.push(p.from === 0 && p.count * C === b.samples.length ? b.samples : b.samples.slice(p.from * C, (p.from + p.count) * C));
    frames.push(`${p.cont ? '+' : ''}${b.seq}:${b.ts - start}:${p.count}`);
    total += p.count;
  }
  const deviceId = first.reading.deviceId;
  return {
    resourceType: 'Observation',
    id: nameUuid(`observation/${patientId}/${deviceId}/${stream}/segment/${start}/${first.reading.body.seq}/${first.from}`),
    extension: [gatewayExtension(ctx.gateway), { url: FRAMES_EXT, valueString: frames.join(' ') }],
    identifier: [{ system: ID_SYSTEM.segment, value: `${deviceId}/${stream}/${start}` }],
    status: 'final',
    category: category('vital-signs'),
    code: { coding: WAVEFORM_MAPPINGS[stream]!.codes.map((c) => ({ ...c })) },
    subject: ctx.subject,
    effectivePeriod: { start: isoMs(start), end: isoMs(Math.round(start + ((total - 1) * 1000) / rate)) },
    device: ctx.device,
    valueSampledData: {
      origin: quantity(0, spec.ucum),
      period: 1000 / rate,
      factor: 1,
      dimensions: C,
      data: data.map((d) => d.join(' ')).join(' '),
    },
  };
}

/** Observations for one device's frames of one waveform stream. */
export function waveformObservations(
  patientId: string, stream: StreamName, frames: ReadonlyArray<FhirReading & { body: WaveformBody }>, ctx: ObservationContext,
  maxSeconds = DEFAULT_MAX_WAVEFORM_SECONDS,
): WaveformSegment[] {
  const spec = STREAMS[stream];
  if (spec.kind !== 'waveform' || !isWaveformMapped(stream)) throw new Error(`stream ${stream} has no FHIR waveform mapping`);
  if (!(maxSeconds > 0)) throw new Error('maxSeconds must be positive');
  return segments(frames, spec.channels.length, maxSeconds).map((pieces) => ({
    observation: segmentObservation(patientId, stream, pieces, ctx),
    readings: [...new Set(pieces.map((p) => p.reading))],
  }));
}

/** The stream a waveform Observation states, from its first code. */
export function waveformStreamOf(o: Observation): StreamName | undefined {
  const first = o.code.coding?.[0];
  for (const [stream, m] of Object.entries(WAVEFORM_MAPPINGS)) {
    if (m && first && m.codes[0]!.system === first.system && m.codes[0]!.code === first.code && o.valueSampledData) return stream as StreamName;
  }
  return undefined;
}

/**
 * The frames a waveform Observation holds. `prev` is the last frame read from the previous
 * Observation of the same device and stream, which a `+` piece continues.
 */
export function readWaveformObservation(o: Observation, stream: StreamName, deviceId: string, prev: FhirReading | undefined): FhirReading[] {
  const where = `Observation ${o.id}`;
  const spec = STREAMS[stream] as WaveformStreamSpec;
  const sd = o.valueSampledData;
  if (!sd) throw new Error(`${where}: no valueSampledData`);
  if (sd.origin.value !== 0 || (sd.factor ?? 1) !== 1 || sd.origin.system !== UCUM || sd.origin.code !== spec.ucum) {
    throw new Error(`${where}: sampled data is not origin 0 ${spec.ucum}, factor 1`);
  }
  if (sd.dimensions !== spec.channels.length) throw new Error(`${where}: ${sd.dimensions} dimensions, ${stream} has ${spec.channels.length}`);
  if (o.category[0]?.coding?.[0]?.system !== OBSERVATION_CATEGORY) throw new Error(`${where}: no observation category`);
  const frames = o.extension?.find((e) => e.url === FRAMES_EXT)?.valueString;
  if (frames === undefined) throw new Error(`${where}: no reading-frames extension`);
  const start = parseIsoMs(o.effectivePeriod?.start, where);
  const rate = rateFromPeriod(sd.period);
  const samples = (sd.data ?? '').split(' ').map(Number);
  if (samples.some((v) => !Number.isInteger(v))) throw new Error(`${where}: sampled data holds a value that is not an integer sample`);
  const C = spec.channels.length;
  const out: FhirReading[] = [];
  let at = 0;
  for (const tok of frames.split(' ')) {
    const m = /^(\+?)(\d+):(-?\d+):(\d+)$/.exec(tok);
    if (!m) throw new Error(`${where}: malformed frame "${tok}"`);
    const [cont, seq, offset, count] = [m[1] === '+', Number(m[2]), Number(m[3]), Number(m[4])];
    const part = samples.slice(at * C, (at + count) * C);
    if (part.length !== count * C) throw new Error(`${where}: frames list more samples than the data holds`);
    at += count;
    const ts = start + offset;
    const last = out.at(-1) ?? prev;
    if (cont) {
      const b = last?.body as WaveformBody | undefined;
      if (!b || b.seq !== seq || b.ts !== ts) throw new Error(`${where}: frame ${seq} continues nothing`);
      b.samples.push(...part);
      continue;
    }
    out.push({ deviceId, stream, body: { seq, ts, rate, samples: part } });
  }
  if (at * C !== samples.length) throw new Error(`${where}: data holds samples no frame claims`);
  return out;
}
