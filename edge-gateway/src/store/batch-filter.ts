/**
 * Which batches and readings a read command wants: by patient, device, stream and reading time.
 * The store reader and `verify` apply it to the batch index first (so only the byte ranges of the
 * batches that can match are read), then to each opened batch's header and readings.
 */
import { isStreamName, lastSampleTs, STREAM_NAMES, type ReadingBody, type StreamName, type SummaryRow } from '@vitalgate/protocol';

export interface BatchFilter {
  patients?: readonly string[];
  devices?: readonly string[];
  streams?: readonly StreamName[];
  /** Reading time bounds, ms since the Unix epoch, both inclusive. */
  from?: number;
  to?: number;
}

/** What a batch header and an index record both say about a batch. */
export interface BatchSpan { patientId: string; deviceId: string; stream: StreamName; firstTs: number; lastTs: number }

export function isFiltering(f: BatchFilter | undefined): f is BatchFilter {
  return !!f && (f.patients !== undefined || f.devices !== undefined || f.streams !== undefined || f.from !== undefined || f.to !== undefined);
}

/** Whether a batch can hold a wanted reading. */
export function batchMatches(f: BatchFilter, b: BatchSpan): boolean {
  return (!f.patients || f.patients.includes(b.patientId))
    && (!f.devices || f.devices.includes(b.deviceId))
    && (!f.streams || f.streams.includes(b.stream))
    && overlaps(f, b.firstTs, b.lastTs);
}

function overlaps(f: BatchFilter, first: number, last: number): boolean {
  return (f.from === undefined || last >= f.from) && (f.to === undefined || first <= f.to);
}

/** The readings of a matching batch that fall in the time range (a waveform: any of its samples). */
export function readingsInRange(f: BatchFilter, stream: StreamName, bodies: ReadingBody[]): ReadingBody[] {
  if (f.from === undefined && f.to === undefined) return bodies;
  return bodies.filter((b) => overlaps(f, b.ts, lastSampleTs(stream, b)));
}

/** The summary rows whose period overlaps the time range. */
export function rowsInRange(f: BatchFilter, rows: SummaryRow[]): SummaryRow[] {
  if (f.from === undefined && f.to === undefined) return rows;
  return rows.filter((r) => overlaps(f, r.t, r.t + r.p - 1));
}

const UNIT_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * A reading time given on a command line: ISO 8601 (`2026-01-01T10:00:00Z`, `2026-01-01`), a time
 * relative to `now` (`-10m`, `-2h`, `-1d`; units s, m, h, d, w), or ms since the Unix epoch.
 */
export function parseReadTime(name: string, v: string, now = Date.now()): number {
  const s = v.trim();
  const rel = /^-(\d+(?:\.\d+)?)([smhdw])$/.exec(s);
  let t = NaN;
  if (rel) t = now - Math.round(Number(rel[1]) * UNIT_MS[rel[2]!]!);
  else if (/^\d+$/.test(s)) t = Number(s);
  else if (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(s)) t = Date.parse(s);
  if (!Number.isSafeInteger(t) || t < 0) {
    throw new Error(`${name} must be an ISO 8601 time (e.g. 2026-01-01T10:00:00Z), a time relative to now (-10m, -2h, -1d; units s, m, h, d, w) or ms since the Unix epoch, got ${JSON.stringify(v.slice(0, 64))}`);
  }
  return t;
}

/** A list flag given once with commas, or several times. */
function listOf(v: string | readonly string[] | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  const items = (typeof v === 'string' ? [v] : v).flatMap((x) => x.split(',')).map((x) => x.trim()).filter((x) => x !== '');
  return items.length ? items : undefined;
}

export interface BatchFilterArgs { patient?: string | readonly string[]; device?: string | readonly string[]; stream?: string | readonly string[]; from?: string; to?: string }

/** The filter that command-line flags describe; throws a one-line reason on anything else. */
export function parseBatchFilter(a: BatchFilterArgs, now = Date.now()): BatchFilter {
  const f: BatchFilter = {};
  const patients = listOf(a.patient);
  const devices = listOf(a.device);
  const streams = listOf(a.stream);
  if (patients) f.patients = patients;
  if (devices) f.devices = devices;
  if (streams) {
    const bad = streams.filter((s) => !isStreamName(s));
    if (bad.length) throw new Error(`--stream ${bad.join(',')}: unknown stream; streams are ${STREAM_NAMES.join(', ')}`);
    f.streams = streams as StreamName[];
  }
  if (a.from !== undefined) f.from = parseReadTime('--from', a.from, now);
  if (a.to !== undefined) f.to = parseReadTime('--to', a.to, now);
  if (f.from !== undefined && f.to !== undefined && f.to < f.from) throw new Error(`--to (${new Date(f.to).toISOString()}) is before --from (${new Date(f.from).toISOString()})`);
  return f;
}
