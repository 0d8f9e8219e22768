/**
 * Summaries: the cloud holds only ciphertext and cannot compute, so the gateway seals, beside the
 * readings, what a long chart needs: per minute and per hour, per stream, min / max / mean / count.
 * They are sealed batches of their own (sealed-batch.ts, version 2, kind `summary-1m` or
 * `summary-1h`) under the same epoch key as the readings they summarise, so whoever may open those
 * readings may open their summary, and nobody else.
 *
 * Plaintext: a CBOR array of rows, each a map
 *
 *   t   period start, ms since the Unix epoch, a multiple of p (UTC minutes and hours)
 *   p   period length, ms: 60000 or 3600000
 *   n   readings in the period (scalar streams), or samples per channel (waveforms)
 *   v   { component or channel name: [min, max, mean, count] }; a component absent from every
 *       reading of the period (an optional one) is absent here
 *   s   waveforms, minute rows of summary-1m only: the per-second envelope,
 *       [[second start ms, min, max (for each channel in order)], …], ascending
 *   e   device status reports received in the period (device-status.ts), each with its
 *       gateway arrival time: [{"ts", "battery"?, "leadOff"?, "sensorError"?}, …]; a row may hold
 *       only these (n = 0) when a device reported but sent nothing, as it does with a lead off
 *
 *   summary-1m   one row per minute, p = 60000
 *   summary-1h   one row per hour, p = 3600000, followed by that hour's minute rows without `s`, so
 *                that seven days load as 168 hours of batches per stream at one-minute resolution
 *                (one piece per epoch: at 15-minute epochs, 672 batches)
 *
 * A period can be summarised in more than one piece: readings that arrive late, an epoch change or
 * a gateway restart inside it each start another. Pieces merge exactly (min of mins, max of maxes,
 * count-weighted means, counts add): a reader merges every piece of a period it loads
 * (`mergeRows`). The header's firstTs / lastTs span the rows' periods, and its count is the number
 * of rows.
 */
import { decodeCbor, encodeCbor } from './payload.js';
import { fail, MAX_TS, MIN_TS, ok, type ReadingBody, type Result, type WaveformBody } from './reading.js';
import { BATCH_VERSION_KINDED, decryptBatch, freshNonce, NONCE_BYTES, sealPlaintext, type BatchHeader, type BatchKind, type ParsedBatch } from './sealed-batch.js';
import { STREAMS, type StreamName } from './streams.js';
import { validateDeviceStatus, type DeviceStatusReport } from './device-status.js';

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const SECOND_MS = 1_000;

/** [min, max, mean, count] */
export type Stat = [number, number, number, number];
export interface StatusEvent extends DeviceStatusReport { ts: number }

export interface SummaryRow {
  t: number;
  p: number;
  n: number;
  v: Record<string, Stat>;
  s?: number[][];
  e?: StatusEvent[];
}

export type SummaryKind = Exclude<BatchKind, 'readings'>;
export const SUMMARY_PERIOD: Readonly<Record<SummaryKind, number>> = { 'summary-1m': MINUTE_MS, 'summary-1h': HOUR_MS };
/** Bounds a row's status reports: a device reporting more often than this is not telling us more. */
export const MAX_EVENTS_PER_ROW = 600;

/** Names of the values a stream's rows carry: its components, or its channels. */
export function summaryFields(stream: StreamName): readonly string[] {
  const spec = STREAMS[stream];
  return spec.kind === 'waveform' ? spec.channels : Object.keys(spec.components);
}

interface Acc { min: number; max: number; sum: number; n: number }

/** Builds one row of one period from readings, or from other rows of the same period. */
export class SummaryBuilder {
  n = 0;
  private readonly v = new Map<string, Acc>();
  private readonly s = new Map<number, number[]>();
  private readonly e: StatusEvent[] = [];

  constructor(readonly stream: StreamName, readonly t: number, readonly p: number, readonly perSecond: boolean) {}

  /** True when nothing, not even a status report, has been added. */
  get empty(): boolean {
    return this.n === 0 && this.e.length === 0;
  }

  private add(name: string, min: number, max: number, sum: number, n: number): void {
    const a = this.v.get(name);
    if (!a) this.v.set(name, { min, max, sum, n });
    else {
      if (min < a.min) a.min = min;
      if (max > a.max) a.max = max;
      a.sum += sum;
      a.n += n;
    }
  }

  /** A scalar reading whose time lies in this period. */
  addScalar(values: Record<string, number>): void {
    this.n++;
    for (const [k, x] of Object.entries(values)) this.add(k, x, x, x, 1);
  }

  /** Samples [from, to) (per-channel indexes) of a waveform body, all inside this period. */
  addSamples(body: WaveformBody, from: number, to: number): void {
    const spec = STREAMS[this.stream];
    if (spec.kind !== 'waveform') return;
    const channels = spec.channels;
    const C = channels.length;
    for (let c = 0; c < C; c++) {
      let min = Infinity;
      let max = -Infinity;
      let sum = 0;
      for (let i = from; i < to; i++) {
        const x = body.samples[i * C + c]!;
        if (x < min) min = x;
        if (x > max) max = x;
        sum += x;
      }
      if (to > from) this.add(channels[c]!, min, max, sum, to - from);
    }
    this.n += to - from;
    if (!this.perSecond) return;
    for (let i = from; i < to; i++) {
      const sec = Math.floor(sampleTime(body, i) / SECOND_MS) * SECOND_MS;
      let env = this.s.get(sec);
      if (!env) {
        env = new Array<number>(2 * C);
        for (let c = 0; c < C; c++) { env[2 * c] = Infinity; env[2 * c + 1] = -Infinity; }
        this.s.set(sec, env);
      }
      for (let c = 0; c < C; c++) {
        const x = body.samples[i * C + c]!;
        if (x < env[2 * c]!) env[2 * c] = x;
        if (x > env[2 * c + 1]!) env[2 * c + 1] = x;
      }
    }
  }

  addStatus(ev: StatusEvent): void {
    if (this.e.length < MAX_EVENTS_PER_ROW) this.e.push(ev);
  }

  /** Folds in a row of the same period or of a period inside this one (a minute into its hour). */
  addRow(r: SummaryRow): void {
    this.n += r.n;
    for (const [k, [min, max, mean, n]] of Object.entries(r.v)) this.add(k, min, max, mean * n, n);
    if (this.perSecond && r.s) {
      for (const [sec, ...mm] of r.s) {
        const env = this.s.get(sec!);
        if (!env) this.s.set(sec!, mm);
        else for (let j = 0; j < mm.length; j += 2) { env[j] = Math.min(env[j]!, mm[j]!); env[j + 1] = Math.max(env[j + 1]!, mm[j + 1]!); }
      }
    }
    for (const ev of r.e ?? []) this.addStatus(ev);
  }

  row(): SummaryRow {
    const v: Record<string, Stat> = {};
    for (const [k, a] of this.v) v[k] = [a.min, a.max, a.sum / a.n, a.n];
    const out: SummaryRow = { t: this.t, p: this.p, n: this.n, v };
    if (this.perSecond && this.s.size) out.s = [...this.s.entries()].sort((a, b) => a[0] - b[0]).map(([sec, mm]) => [sec, ...mm]);
    if (this.e.length) out.e = [...this.e].sort((a, b) => a.ts - b.ts);
    return out;
  }
}

/** Time of per-channel sample i of a waveform body, as lastSampleTs counts it. */
export function sampleTime(body: WaveformBody, i: number): number {
  return body.ts + Math.round((i * 1000) / body.rate);
}

/**
 * Splits a body by period: calls `fn(periodStart, from, to)` for each run of its samples (per-channel
 * indexes) that falls in one period. A scalar body is one run.
 */
export function forEachPeriod(stream: StreamName, body: ReadingBody, periodMs: number, fn: (t: number, from: number, to: number) => void): void {
  const spec = STREAMS[stream];
  if (spec.kind !== 'waveform' || !('samples' in body)) {
    fn(Math.floor(body.ts / periodMs) * periodMs, 0, 1);
    return;
  }
  const count = body.samples.length / spec.channels.length;
  let from = 0;
  let period = Math.floor(body.ts / periodMs) * periodMs;
  for (let i = 1; i < count; i++) {
    const p = Math.floor(sampleTime(body, i) / periodMs) * periodMs;
    if (p !== period) {
      fn(period, from, i);
      from = i;
      period = p;
    }
  }
  fn(period, from, count);
}

/** Merges the pieces of each period (same t and p) into one row; output sorted by p, then t. */
export function mergeRows(stream: StreamName, rows: readonly SummaryRow[]): SummaryRow[] {
  const by = new Map<string, { first: SummaryRow; b?: SummaryBuilder }>();
  for (const r of rows) {
    const k = `${r.p}/${r.t}`;
    const slot = by.get(k);
    if (!slot) { by.set(k, { first: r }); continue; }
    if (!slot.b) {
      slot.b = new SummaryBuilder(stream, r.t, r.p, slot.first.s !== undefined || r.s !== undefined);
      slot.b.addRow(slot.first);
    }
    slot.b.addRow(r);
  }
  return [...by.values()].map((s) => (s.b ? s.b.row() : s.first)).sort((a, b) => a.p - b.p || a.t - b.t);
}

export function encodeSummaryRows(rows: readonly SummaryRow[]): Uint8Array {
  return encodeCbor(rows);
}

export interface SummarySealInput {
  kind: SummaryKind;
  stream: StreamName;
  patientId: string;
  deviceId: string;
  epoch: number;
  seq: number;
  rows: readonly SummaryRow[];
}

/** Seals summary rows under the epoch key of the readings they summarise. `nonce` is for test vectors only. */
export function sealSummary(key: Uint8Array, input: SummarySealInput, nonce: Uint8Array = freshNonce(NONCE_BYTES)): { id: string; bytes: Uint8Array; header: BatchHeader } {
  if (input.rows.length === 0) throw new Error('cannot seal an empty summary');
  let firstTs = Infinity;
  let lastTs = -Infinity;
  for (const r of input.rows) {
    firstTs = Math.min(firstTs, r.t);
    lastTs = Math.max(lastTs, r.t + r.p - 1);
  }
  const { rows, ...rest } = input;
  return sealPlaintext(key, { version: BATCH_VERSION_KINDED, ...rest, firstTs, lastTs, count: rows.length, nonce }, encodeSummaryRows(rows));
}

const isUint = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
const isFiniteNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

/** Checks untrusted, decoded rows against the stream, the kind and the header's range. Never throws. */
export function validateSummaryRows(kind: SummaryKind, stream: StreamName, raw: unknown, range: { firstTs: number; lastTs: number; count: number }): Result<SummaryRow[]> {
  if (!Array.isArray(raw)) return fail('summary plaintext is not an array');
  if (raw.length !== range.count) return fail(`header says ${range.count} rows, batch holds ${raw.length}`);
  const fields = new Set(summaryFields(stream));
  const channels = STREAMS[stream].kind === 'waveform' ? summaryFields(stream).length : 0;
  const rows: SummaryRow[] = [];
  for (const item of raw) {
    const at = `row ${rows.length}`;
    if (typeof item !== 'object' || item === null || Array.isArray(item) || item instanceof Uint8Array) return fail(`${at} is not a map`);
    const r = item as Record<string, unknown>;
    for (const k of Object.keys(r)) if (!['t', 'p', 'n', 'v', 's', 'e'].includes(k)) return fail(`${at}: unknown field "${k.slice(0, 16)}"`);
    const { t, p, n } = r;
    const periodOk = kind === 'summary-1m' ? p === MINUTE_MS : p === HOUR_MS || p === MINUTE_MS;
    if (!periodOk) return fail(`${at}: period ${String(p).slice(0, 16)} does not belong in a ${kind} batch`);
    if (!isUint(t) || t < MIN_TS || t > MAX_TS || t % (p as number) !== 0) return fail(`${at}: t must be a period start between 2000 and 2200`);
    if (t < range.firstTs || t + (p as number) - 1 > range.lastTs) return fail(`${at} lies outside the header's time range`);
    if (!isUint(n)) return fail(`${at}: n must be a non-negative integer`);
    if (typeof r.v !== 'object' || r.v === null || Array.isArray(r.v) || r.v instanceof Uint8Array) return fail(`${at}: v must be a map`);
    const v: Record<string, Stat> = {};
    for (const [k, st] of Object.entries(r.v as Record<string, unknown>)) {
      if (!fields.has(k)) return fail(`${at}: unknown field "${k.slice(0, 16)}" for ${stream}`);
      if (!Array.isArray(st) || st.length !== 4 || !st.every(isFiniteNum)) return fail(`${at}: ${k} must be [min, max, mean, count]`);
      const [min, max, mean, c] = st as Stat;
      if (!(min <= max) || !isUint(c) || c < 1 || c > n) return fail(`${at}: ${k} has min above max or a count outside 1..n`);
      v[k] = [min, max, mean, c];
    }
    const row: SummaryRow = { t, p: p as number, n, v };
    if (r.s !== undefined) {
      if (!channels || kind !== 'summary-1m') return fail(`${at}: only waveform minute rows carry a per-second envelope`);
      if (!Array.isArray(r.s) || r.s.length > MINUTE_MS / SECOND_MS) return fail(`${at}: s must be at most 60 seconds`);
      const s: number[][] = [];
      let prev = -1;
      for (const sec of r.s as unknown[]) {
        if (!Array.isArray(sec) || sec.length !== 1 + 2 * channels || !sec.every(isFiniteNum)) return fail(`${at}: each second must be [start, min, max per channel]`);
        const st = sec[0] as number;
        if (!isUint(st) || st % SECOND_MS !== 0 || st < t || st >= t + MINUTE_MS || st <= prev) return fail(`${at}: seconds must be ascending starts inside the minute`);
        prev = st;
        s.push(sec as number[]);
      }
      row.s = s;
    }
    if (r.e !== undefined) {
      if (!Array.isArray(r.e) || r.e.length > MAX_EVENTS_PER_ROW) return fail(`${at}: e must be at most ${MAX_EVENTS_PER_ROW} status reports`);
      const e: StatusEvent[] = [];
      for (const ev of r.e as unknown[]) {
        if (typeof ev !== 'object' || ev === null || Array.isArray(ev)) return fail(`${at}: each status report must be a map`);
        const { ts, ...rest } = ev as Record<string, unknown>;
        if (!isUint(ts) || ts < t || ts >= t + row.p) return fail(`${at}: a status report's ts lies outside the period`);
        const st = validateDeviceStatus(rest);
        if (!st.ok) return fail(`${at}: ${st.reason}`);
        e.push({ ts, ...st.value });
      }
      row.e = e;
    }
    rows.push(row);
  }
  return ok(rows);
}

/** Authenticates, decrypts and checks a summary batch. Never throws. */
export function openSummary(key: Uint8Array, parsed: ParsedBatch): Result<SummaryRow[]> {
  const { header } = parsed;
  if (header.kind === 'readings') return fail('this batch holds readings, not summaries: open it with openBatch');
  const plain = decryptBatch(key, parsed);
  if (!plain.ok) return plain;
  const raw = decodeCbor(plain.value);
  if (!raw.ok) return raw;
  return validateSummaryRows(header.kind, header.stream, raw.value, header);
}
