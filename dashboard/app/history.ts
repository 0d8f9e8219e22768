/**
 * History: one patient's granted streams over a range from one minute to seven days, zoomed and
 * panned with buttons or keys. Short ranges load readings; longer ones load the summaries the
 * gateway sealed beside them (protocol/src/timeline.ts, sourceFor), so seven days of heart rate is
 * 168 hours of summaries (672 pieces at 15-minute epochs) rather than 600,000 readings. Gaps in the data and the device states that
 * status reports gave (lead off, low battery) are shaded on every chart and listed under them.
 *
 * Every batch drawn has been checked like the live view's: its bytes hash to its id (in the worker),
 * its Merkle proof leads to a root the gateway anchored (proof.ts). A batch that fails is listed,
 * never drawn.
 */
import uPlot from 'uplot';
import {
  deviceStates, gapsIn, gapThreshold, HOUR_MS, mergeRows, MINUTE_MS, sourceFor, STREAMS, summaryFields, summaryQueryStart,
  type BatchKind, type StatusEvent, type StreamName, type SummaryRow,
} from '@vitalgate/protocol';
import type { BundleAnchor, BundleBatch } from './api.js';
import type { Opened } from './opened.js';
import type { ProofState } from './proof.js';

export interface HistoryDeps {
  patient: string;
  /** Granted streams, each with the time it is granted over (ms). */
  streams: Array<{ stream: string; from: number; until: number }>;
  /** Every batch of the range, page by page: `onPage` gets each page's batches as it arrives. */
  bundle(stream: string, from: number, to: number, kind: BatchKind, signal: AbortSignal, onPage: (items: BundleBatch[]) => void): Promise<unknown>;
  /** Opens a batch in a decryption worker (a history spreads over every worker). */
  open(b: BundleBatch, columns: boolean): Promise<Opened>;
  prove(id: string, anchor: BundleAnchor | undefined): Promise<ProofState>;
  /** Bytes fetched so far (for the figures the benchmark reads). */
  bytesIn(): number;
}

export const SPANS: ReadonlyArray<{ label: string; ms: number }> = [
  { label: '1 min', ms: MINUTE_MS }, { label: '10 min', ms: 10 * MINUTE_MS }, { label: '1 h', ms: HOUR_MS },
  { label: '6 h', ms: 6 * HOUR_MS }, { label: '24 h', ms: 24 * HOUR_MS }, { label: '7 d', ms: 7 * 24 * HOUR_MS },
];

/** Charted streams, in order, with the unit shown (UCUM) and how raw values scale to it. */
const CHARTS: ReadonlyArray<{ stream: StreamName; title: string; unit: string; scale: number; fields: string[] }> = [
  { stream: 'ecg', title: 'ECG', unit: 'mV', scale: 1 / 1000, fields: ['lead'] },
  { stream: 'ppg', title: 'PPG (pleth)', unit: '{count}', scale: 1, fields: ['pleth'] },
  { stream: 'hr', title: 'Heart rate', unit: '/min', scale: 1, fields: ['hr'] },
  { stream: 'spo2', title: 'SpO2', unit: '%', scale: 1, fields: ['spo2'] },
  { stream: 'temp', title: 'Temperature', unit: 'Cel', scale: 1, fields: ['temp'] },
  { stream: 'bp', title: 'Blood pressure', unit: 'mm[Hg]', scale: 1, fields: ['sys', 'dia'] },
  { stream: 'resp', title: 'Respiration rate', unit: '/min', scale: 1, fields: ['resp'] },
];

// Okabe–Ito: told apart with every common colour-vision deficiency.
const BLUE = '#0072B2';
const VERMILLION = '#D55E00';
const SKY = 'rgba(86, 180, 233, 0.35)';
const MARK: Record<string, string> = { gap: 'rgba(120, 120, 120, 0.22)', 'lead-off': 'rgba(213, 94, 0, 0.22)', 'low-battery': 'rgba(230, 159, 0, 0.28)', 'sensor-error': 'rgba(204, 121, 167, 0.25)' };

interface Mark { from: number; to: number; kind: string; text: string }
/** One chart's data: x in seconds, then series; `band` when series 1..3 are mean, min, max. */
interface ChartData { data: uPlot.AlignedData; labels: string[]; band: boolean; times: number[] }

const el = (tag: string, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElement => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
};
const clock = (ms: number, span: number) => (span > 24 * HOUR_MS ? new Date(ms).toLocaleString() : new Date(ms).toLocaleTimeString());

export class HistoryView {
  readonly root: HTMLElement;
  private span: number;
  private end: number | undefined; // undefined: ends now
  private ctl: AbortController | undefined;
  private charts: uPlot[] = [];
  private lastDrawn: Array<{ stream: string; unit: string; data: ChartData }> = [];
  /** The range last asked for: what the FHIR export covers. */
  private range: { from: number; to: number } | undefined;

  constructor(private readonly d: HistoryDeps, spanMs: number, private readonly width: number) {
    this.span = spanMs;
    const buttons = SPANS.map((s) => {
      const b = el('button', { type: 'button', 'data-span': String(s.ms), 'aria-pressed': String(s.ms === spanMs) }, s.label);
      b.addEventListener('click', () => this.show(s.ms, this.end));
      return b;
    });
    const earlier = el('button', { type: 'button', id: 'history-earlier', title: 'Earlier (←)' }, '◀ earlier');
    const later = el('button', { type: 'button', id: 'history-later', title: 'Later (→)' }, 'later ▶');
    const now = el('button', { type: 'button', id: 'history-now', title: 'Now (End)' }, 'now');
    earlier.addEventListener('click', () => this.pan(-1));
    later.addEventListener('click', () => this.pan(1));
    now.addEventListener('click', () => this.show(this.span, undefined));
    const csv = el('button', { type: 'button', id: 'history-csv' }, 'Export this range (CSV)');
    csv.addEventListener('click', () => this.onExport?.(this.lastDrawn.map(({ stream, unit, data }) => {
      const xs = data.data[0] as ArrayLike<number>;
      const ys = data.data[1] as ArrayLike<number | null>;
      const out: [number[], number[]] = [[], []];
      for (let i = 0; i < xs.length; i++) if (ys[i] !== null) { out[0].push(xs[i]!); out[1].push(ys[i] as number); }
      return [stream, unit, out];
    })));
    const fhir = el('button', { type: 'button', id: 'history-fhir', title: 'FHIR R4 Bundle of the readings in this range (up to 6 h), built here' }, 'Export this range (FHIR R4)');
    fhir.addEventListener('click', () => { if (this.range) this.onFhirExport?.(this.range.from, this.range.to); });
    this.root = el('section', { id: 'history', tabindex: '0', 'aria-label': 'History. Keys: minus and plus zoom, left and right arrows pan, End returns to now' },
      el('h2', {}, 'History'),
      el('div', { class: 'history-controls', role: 'toolbar', 'aria-label': 'Range' }, ...buttons, earlier, later, now, csv, fhir),
      el('p', { id: 'history-status', role: 'status' }, 'Loading…'),
      el('div', { id: 'history-charts' }),
      el('h3', {}, 'Gaps and device states'),
      el('ul', { id: 'history-marks' }),
      el('ul', { id: 'history-failures', class: 'error' }));
    this.root.addEventListener('keydown', (ev) => {
      const i = SPANS.findIndex((s) => s.ms === this.span);
      if (ev.key === '-' || ev.key === '_') this.show(SPANS[Math.min(SPANS.length - 1, i + 1)]!.ms, this.end);
      else if (ev.key === '+' || ev.key === '=') this.show(SPANS[Math.max(0, i - 1)]!.ms, this.end);
      else if (ev.key === 'ArrowLeft') this.pan(-1);
      else if (ev.key === 'ArrowRight') this.pan(1);
      else if (ev.key === 'End') this.show(this.span, undefined);
      else return;
      ev.preventDefault();
    });
  }

  /** Set by the page: what to do with the CSV series of the range shown. */
  onExport: ((series: Array<[string, string, [number[], number[]]]>) => void) | undefined;
  /** Set by the page: export the readings of [from, to) as FHIR R4. */
  onFhirExport: ((from: number, to: number) => void) | undefined;

  private pan(dir: number): void {
    const end = (this.end ?? Date.now()) + (dir * this.span) / 2;
    this.show(this.span, end >= Date.now() ? undefined : end);
  }

  stop(): void {
    this.ctl?.abort();
    for (const c of this.charts) c.destroy();
    this.charts = [];
  }

  async show(span: number, end: number | undefined): Promise<void> {
    this.stop();
    const ctl = new AbortController();
    this.ctl = ctl;
    this.span = span;
    this.end = end;
    for (const b of this.root.querySelectorAll('[data-span]')) b.setAttribute('aria-pressed', String(Number(b.getAttribute('data-span')) === span));
    const t0 = performance.now();
    const bytes0 = this.d.bytesIn();
    const to = end ?? Date.now();
    const from = to - span;
    this.range = { from, to };
    const kind = sourceFor(span);
    const status = this.root.querySelector('#history-status')!;
    status.textContent = `Loading ${clock(from, span)} – ${clock(to, span)} from ${kind === 'readings' ? 'readings' : kind === 'summary-1m' ? 'minute summaries' : 'hour summaries'}…`;
    delete document.body.dataset.historyLoaded;
    const charts = this.root.querySelector('#history-charts')!;
    const marksList = this.root.querySelector('#history-marks')!;
    const failures = this.root.querySelector('#history-failures')!;
    charts.replaceChildren();
    marksList.replaceChildren();
    failures.replaceChildren();
    const granted = new Map(this.d.streams.map((s) => [s.stream, s]));
    const wanted = CHARTS.filter((c) => granted.has(c.stream));
    const proofs = { verified: 0, pending: 0, failed: 0 };
    let batches = 0;
    const events: Array<StatusEvent & { deviceId: string }> = [];
    const drawn: Array<{ c: typeof CHARTS[number]; data: ChartData }> = [];
    try {
      await Promise.all(wanted.map(async (c) => {
        const g = granted.get(c.stream)!;
        // Ask only inside the grant: a request outside it is refused, and refusals count toward a ban.
        const lo = Math.max(from, g.from);
        const hi = Math.min(to, g.until);
        if (hi <= lo) return;
        // Each page's batches go to the workers as soon as it arrives, while the next one is fetched.
        const load = async (k: BatchKind, a: number, b: number): Promise<Opened[]> => {
          const start = k === 'readings' ? a : Math.max(summaryQueryStart(k, a), g.from);
          const opening: Array<Promise<Opened | undefined>> = [];
          await this.d.bundle(c.stream, start, b, k, ctl.signal, (items) => {
            batches += items.length;
            for (const it of items) {
              opening.push(Promise.all([this.d.open(it, k === 'readings'), this.d.prove(it.item.id, it.item.anchor).catch(() => 'pending' as const)]).then(([o, proof]) => {
                if (!o.ok) return this.fail(failures, it.item.id, o.reason, proofs);
                if (proof === 'failed') return this.fail(failures, it.item.id, 'its Merkle proof does not lead to a root the gateway anchored', proofs);
                proofs[proof]++;
                return o;
              }));
            }
          });
          return (await Promise.all(opening)).filter((o) => o !== undefined);
        };
        let opened: Opened[];
        let statusRows: Opened[];
        if (kind === 'summary-1h') {
          // Hours are sealed once they end: the hour under way comes from its minutes, asked for
          // beside the hours; minutes of earlier hours only when those hours have no summary (yet).
          const hourNow = Math.max(lo, Math.floor(hi / HOUR_MS) * HOUR_MS);
          const [hours, recent] = await Promise.all([load(kind, lo, hi), hourNow < hi ? load('summary-1m', hourNow, hi) : []]);
          let covered = lo;
          for (const o of hours) for (const r of (o.ok && o.rows) || []) if (r.p === HOUR_MS && r.t + HOUR_MS > covered) covered = r.t + HOUR_MS;
          const earlier = covered < Math.min(hourNow, hi) ? await load('summary-1m', covered, Math.min(hourNow, hi)) : [];
          // Minutes an hour summary already holds are drawn from it, once.
          opened = hours.concat(earlier, recent).flatMap((o) => (!o.ok || o.kind !== 'summary-1m' ? [o] : [{ ...o, rows: (o.rows ?? []).filter((r) => r.t >= covered) }]));
          statusRows = opened;
        } else {
          const main = load(kind, lo, hi);
          // Status reports ride in the minute summaries: for readings, load those too (small), beside them.
          const statusLoad = kind === 'readings' ? load('summary-1m', lo, hi) : undefined;
          [opened, statusRows] = await Promise.all([main, statusLoad ?? main]);
        }
        for (const o of statusRows) if (o.ok) for (const r of o.rows ?? []) for (const e of r.e ?? []) events.push({ ...e, deviceId: o.deviceId });
        drawn.push({ c, data: chartData(c, kind, opened, lo, hi) });
      }));
    } catch (e) {
      if (ctl.signal.aborted) return;
      status.textContent = `could not load the history: ${(e as Error).message}`;
      return;
    }
    if (ctl.signal.aborted) return;
    // Gaps per chart, device states for all: one list, shaded on every chart.
    const marks: Mark[] = [];
    for (const { c, data } of drawn) {
      const wave = STREAMS[c.stream].kind === 'waveform';
      // Readings: a few batch windows without a sample. Summaries: a period missing.
      const th = (kind === 'readings' || kind === 'summary-1m') && wave ? 5_000 : kind === 'readings' ? gapThreshold(data.times) : 1.5 * MINUTE_MS;
      // The minute under way is not summarised yet: that is not a gap.
      const until = Math.min(to, Date.now()) - (kind === 'readings' ? 0 : 3 * MINUTE_MS);
      for (const g of gapsIn(data.times, until, th)) marks.push({ ...g, kind: 'gap', text: `${c.title}: no data ${clock(g.from, span)} – ${clock(g.to, span)} (device disconnected, off, or out of range)` });
    }
    for (const s of deviceStates(events, to)) {
      const what = s.state === 'lead-off' ? 'lead off' : s.state === 'low-battery' ? 'low battery' : 'sensor error';
      marks.push({ from: s.from, to: s.to, kind: s.state, text: `${s.deviceId}: ${what} ${clock(s.from, span)} – ${clock(s.to, span)}` });
    }
    marks.sort((a, b) => a.from - b.from);
    marksList.replaceChildren(...(marks.length ? marks.map((m) => el('li', { 'data-mark': m.kind }, m.text)) : [el('li', {}, 'none in this range')]));
    this.lastDrawn = [];
    const empty = drawn.filter((x) => (x.data.data[0] as ArrayLike<number>).length === 0).map((x) => x.c.title);
    if (empty.length) charts.append(el('p', { class: 'history-empty' }, `No data in this range: ${empty.join(', ')}.`));
    for (const { c, data } of drawn.filter((x) => (x.data.data[0] as ArrayLike<number>).length > 0).sort((a, b) => CHARTS.indexOf(a.c) - CHARTS.indexOf(b.c))) {
      const box = el('div', { class: 'history-chart', 'data-stream': c.stream });
      charts.append(box);
      this.charts.push(makeChart(c.title, c.unit, data, marks, from / 1000, to / 1000, this.width, box));
      this.lastDrawn.push({ stream: c.stream, unit: c.unit, data });
    }
    if (!drawn.length) charts.append(el('p', {}, 'No granted stream has data in this range.'));
    const ms = Math.round(performance.now() - t0);
    const bytes = this.d.bytesIn() - bytes0;
    const points = drawn.reduce((n, x) => n + (x.data.data[0] as ArrayLike<number>).length, 0);
    status.textContent = `${clock(from, span)} – ${clock(to, span)} · from ${kind} · ${batches} batches, ${(bytes / 1024).toFixed(0)} KiB, ${points} points, ${ms} ms · integrity: ${proofs.verified} verified, ${proofs.pending} pending, ${proofs.failed} FAILED`;
    Object.assign(document.body.dataset, { historyLoaded: String(span), historyKind: kind, historyPoints: String(points), historyFailed: String(proofs.failed) });
    const stats = (globalThis as unknown as { vitalgateStats?: Record<string, unknown> }).vitalgateStats;
    if (stats) stats.history = { span, kind, ms, bytes, batches, points };
  }

  private fail(list: Element, id: string, reason: string, proofs: { failed: number }): undefined {
    proofs.failed++;
    list.append(el('li', { 'data-batch': id }, `batch ${id.slice(0, 12)}…: ${reason} (not drawn)`));
    return undefined;
  }
}

/** Shapes decrypted batches into one chart's columns, nulls where data is missing. */
function chartData(c: typeof CHARTS[number], kind: BatchKind, opened: Opened[], lo: number, hi: number): ChartData {
  const ok = opened.filter((o): o is Extract<Opened, { ok: true }> => o.ok);
  const wave = STREAMS[c.stream].kind === 'waveform';
  if (kind === 'readings' && wave) {
    const segs = ok.flatMap((o) => (o.wave ? [o.wave] : [])).filter((w) => w.t.length).sort((a, b) => a.t[0]! - b.t[0]!);
    let n = 0;
    for (const s of segs) n += s.t.length + 1;
    const x = new Float64Array(n);
    const y: Array<number | null> = new Array<number | null>(n);
    const times: number[] = [];
    let j = 0;
    let prev = -Infinity;
    for (const s of segs) {
      // More than a second without samples: break the trace instead of drawing a line across.
      if (s.t[0]! - prev > 1) { x[j] = prev > 0 ? prev + 0.0005 : s.t[0]! - 0.001; y[j++] = null; }
      for (let i = 0; i < s.t.length; i++, j++) { x[j] = s.t[i]!; y[j] = s.v[i]! * c.scale; }
      prev = s.t[s.t.length - 1]!;
      times.push(s.t[0]! * 1000, prev * 1000);
    }
    return { data: [x.subarray(0, j), y.slice(0, j)] as uPlot.AlignedData, labels: [c.fields[0]!], band: false, times: inRange(times, lo, hi) };
  }
  if (kind === 'readings') {
    const rs = ok.flatMap((o) => o.readings ?? []).sort((a, b) => a.ts - b.ts);
    const th = gapThreshold(rs.map((r) => r.ts));
    const x: number[] = [];
    const ys: Array<Array<number | null>> = c.fields.map(() => []);
    for (let i = 0; i < rs.length; i++) {
      if (i && rs[i]!.ts - rs[i - 1]!.ts > th) { x.push((rs[i - 1]!.ts + 1) / 1000); ys.forEach((s) => s.push(null)); }
      x.push(rs[i]!.ts / 1000);
      c.fields.forEach((f, k) => ys[k]!.push(rs[i]!.values?.[f] ?? null));
    }
    return { data: [x, ...ys] as uPlot.AlignedData, labels: c.fields, band: false, times: rs.map((r) => r.ts) };
  }
  // Summaries: every piece of a period merged, minute rows drawn (an hour summary carries its minutes).
  const rows = mergeRows(c.stream, ok.flatMap((o) => o.rows ?? [])).filter((r) => r.p === MINUTE_MS && r.n > 0);
  const field = wave ? summaryFields(c.stream)[0]! : c.fields[0]!;
  if (kind === 'summary-1m' && wave) {
    // Per-second min and max: the envelope of the waveform.
    const secs = rows.flatMap((r) => r.s ?? []).sort((a, b) => a[0]! - b[0]!);
    const x: number[] = [];
    const lo_: Array<number | null> = [];
    const hi_: Array<number | null> = [];
    for (let i = 0; i < secs.length; i++) {
      if (i && secs[i]![0]! - secs[i - 1]![0]! > 2_000) { x.push((secs[i - 1]![0]! + 1_000) / 1000); lo_.push(null); hi_.push(null); }
      x.push(secs[i]![0]! / 1000 + 0.5); lo_.push(secs[i]![1]! * c.scale); hi_.push(secs[i]![2]! * c.scale);
    }
    const mid = lo_.map((v, i) => (v === null ? null : (v + hi_[i]!) / 2));
    return { data: [x, mid, lo_, hi_], labels: ['mid', 'min', 'max'], band: true, times: secs.map((s) => s[0]!) };
  }
  return summaryColumns(rows, c.fields.length > 1 ? c.fields : [field], c.scale);
}

function summaryColumns(rows: SummaryRow[], fields: string[], scale: number): ChartData {
  const x: number[] = [];
  const cols: Array<Array<number | null>> = fields.length > 1 ? fields.map(() => []) : [[], [], []];
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    if (i && r.t - rows[i - 1]!.t > MINUTE_MS) { x.push((rows[i - 1]!.t + MINUTE_MS) / 1000); cols.forEach((s) => s.push(null)); }
    x.push((r.t + r.p / 2) / 1000);
    if (fields.length > 1) fields.forEach((f, k) => cols[k]!.push(r.v[f] ? r.v[f]![2] * scale : null));
    else {
      const st = r.v[fields[0]!];
      cols[0]!.push(st ? st[2] * scale : null);
      cols[1]!.push(st ? st[0] * scale : null);
      cols[2]!.push(st ? st[1] * scale : null);
    }
  }
  return { data: [x, ...cols] as uPlot.AlignedData, labels: fields.length > 1 ? fields.map((f) => `${f} (mean)`) : ['mean', 'min', 'max'], band: fields.length === 1, times: rows.map((r) => r.t) };
}

const inRange = (times: number[], lo: number, hi: number) => times.filter((t) => t >= lo - 60_000 && t <= hi + 60_000);

function makeChart(title: string, unit: string, d: ChartData, marks: Mark[], xMin: number, xMax: number, width: number, target: HTMLElement): uPlot {
  const series: uPlot.Series[] = [{}];
  if (d.band) {
    series.push({ label: `${title} ${d.labels[0]} (${unit})`, stroke: BLUE, width: 1 });
    series.push({ label: `min (${unit})`, stroke: SKY, width: 1 });
    series.push({ label: `max (${unit})`, stroke: SKY, width: 1 });
  } else {
    d.labels.forEach((l, i) => series.push({ label: `${title}${d.labels.length > 1 ? ` ${l}` : ''} (${unit})`, stroke: i ? VERMILLION : BLUE, width: 1 }));
  }
  return new uPlot({
    title, width, height: 180,
    scales: { x: { time: true, range: () => [xMin, xMax] } },
    series,
    ...(d.band && { bands: [{ series: [3, 2], fill: SKY }] }),
    axes: [{}, { label: unit }],
    hooks: {
      // Under the traces: grey where there is no data, colours where a device said it was in trouble.
      drawClear: [(u) => {
        const { ctx, bbox } = u;
        for (const m of marks) {
          const x0 = Math.max(bbox.left, u.valToPos(m.from / 1000, 'x', true));
          const x1 = Math.min(bbox.left + bbox.width, u.valToPos(m.to / 1000, 'x', true));
          if (x1 <= x0) continue;
          ctx.fillStyle = MARK[m.kind] ?? MARK.gap!;
          ctx.fillRect(x0, bbox.top, Math.max(1, x1 - x0), bbox.height);
        }
      }],
    },
  }, d.data, target);
}
