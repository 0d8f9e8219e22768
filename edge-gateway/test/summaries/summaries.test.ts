import assert from 'node:assert/strict';
import { cp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  encodeBody, HOUR_MS, mergeRows, MINUTE_MS, readingTopic, statusTopic,
  type ReadingBody, type StreamName, type SummaryRow,
} from '@vitalgate/protocol';
import { BatchIndex, dataDirLayout, Gateway, readStore } from '../../src/index.js';
import { memoryLogger, tempDir, TEST_SCRYPT } from '../helpers.js';

const PASS = 'correct horse battery staple';
const P = 'patient-sum';
const D = 'strap-sum';

/** Two hours ago, 58 minutes past the hour: readings run across the hour boundary. */
const BASE = Math.floor((Date.now() - 2 * HOUR_MS) / HOUR_MS) * HOUR_MS + 58 * MINUTE_MS;

function hrReadings(): ReadingBody[] {
  // 1 Hz for four minutes, a slow wave so every minute has its own min, max and mean.
  return Array.from({ length: 240 }, (_, i) => ({ seq: i, ts: BASE + i * 1000, values: { hr: 60 + Math.round(20 * Math.sin(i / 17)) } }));
}

function ecgFrames(): ReadingBody[] {
  // 250 Hz in frames of 50 samples (0.2 s), from minute 59 to the end of minute 0 of the next hour.
  const frames: ReadingBody[] = [];
  for (let f = 0; f < 600; f++) {
    const ts = BASE + MINUTE_MS + f * 200;
    frames.push({ seq: 10_000 + f, ts, rate: 250, samples: Array.from({ length: 50 }, (_, i) => Math.round(1000 * Math.sin((f * 50 + i) / 40)) + (f % 7)) });
  }
  return frames;
}

/** What the summaries must say, computed here the plain way, sample by sample. */
function expected(stream: StreamName, bodies: ReadingBody[], p: number): Map<number, { n: number; min: number; max: number; mean: number; seconds?: Map<number, [number, number]> }> {
  const acc = new Map<number, { n: number; min: number; max: number; sum: number; seconds: Map<number, [number, number]> }>();
  const put = (t: number, x: number) => {
    const k = Math.floor(t / p) * p;
    let a = acc.get(k);
    if (!a) acc.set(k, (a = { n: 0, min: Infinity, max: -Infinity, sum: 0, seconds: new Map() }));
    a.n++; a.min = Math.min(a.min, x); a.max = Math.max(a.max, x); a.sum += x;
    const s = Math.floor(t / 1000) * 1000;
    const mm = a.seconds.get(s) ?? [Infinity, -Infinity];
    a.seconds.set(s, [Math.min(mm[0], x), Math.max(mm[1], x)]);
  };
  for (const b of bodies) {
    if ('samples' in b) b.samples.forEach((x, i) => put(b.ts + Math.round((i * 1000) / b.rate), x));
    else put(b.ts, b.values[stream]!);
  }
  return new Map([...acc].map(([k, a]) => [k, { n: a.n, min: a.min, max: a.max, mean: a.sum / a.n, ...(stream === 'ecg' && { seconds: a.seconds }) }]));
}

async function summaries(dir: string): Promise<Map<string, SummaryRow[]>> {
  const rows = new Map<string, SummaryRow[]>();
  for await (const b of readStore(dir, PASS, { summaries: true })) {
    assert.ok(b.ok, b.ok ? '' : b.reason);
    if (b.header.kind === 'readings') continue;
    const k = `${b.header.stream}/${b.header.kind}`;
    rows.set(k, [...(rows.get(k) ?? []), ...b.summary!]);
  }
  return rows;
}

function check(rows: SummaryRow[] | undefined, stream: StreamName, bodies: ReadingBody[], p: number, what: string): SummaryRow[] {
  assert.ok(rows, `no ${what}`);
  const merged = mergeRows(stream, rows).filter((r) => r.p === p && r.n > 0);
  const want = expected(stream, bodies, p);
  const field = stream === 'ecg' ? 'lead' : stream;
  assert.deepEqual(merged.map((r) => r.t), [...want.keys()].sort((a, b) => a - b), `${what}: periods`);
  for (const r of merged) {
    const w = want.get(r.t)!;
    const [min, max, mean, n] = r.v[field]!;
    assert.deepEqual([r.n, n, min, max], [w.n, w.n, w.min, w.max], `${what} at ${new Date(r.t).toISOString()}`);
    assert.ok(Math.abs(mean - w.mean) < 1e-9 * Math.max(1, Math.abs(w.mean)), `${what} mean at ${r.t}: ${mean} vs ${w.mean}`);
    if (w.seconds && r.s) assert.deepEqual(r.s, [...w.seconds].sort((a, b) => a[0] - b[0]).map(([s, [lo, hi]]) => [s, lo, hi]), `${what}: per-second envelope`);
  }
  return merged;
}

async function until(what: string, cond: () => boolean, gw: Gateway, ms = 15_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(gw.metrics().summariesOpen)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function feed(gw: Gateway, hr: ReadingBody[], ecg: ReadingBody[]): void {
  for (const b of hr) gw.acceptMqtt(readingTopic(P, D, 'hr'), encodeBody(b, 'cbor'));
  for (const b of ecg) gw.acceptMqtt(readingTopic(P, D, 'ecg'), encodeBody(b, 'cbor'));
}

describe('summaries sealed at the edge', function () {
  this.timeout(60_000);

  it('seals per-minute and per-hour summaries that agree with every reading exactly, late readings and device status included', async () => {
    const t = await tempDir();
    try {
      const gw = await Gateway.start({ dataDir: t.dir, passphrase: PASS, scrypt: TEST_SCRYPT, logger: memoryLogger().logger, batchWindowMs: 200 });
      const hr = hrReadings();
      const ecg = ecgFrames();
      const late = hr.splice(30, 5);
      feed(gw, hr, ecg);
      await until('every minute summarised', () => gw.metrics().summariesSealed > 0 && gw.metrics().summariesOpen?.minutes === 0 && gw.metrics().pendingReadings === 0, gw);
      // Five readings of minute 58 come late, after that minute was sealed: they make a second piece.
      for (const b of late) gw.acceptMqtt(readingTopic(P, D, 'hr'), encodeBody(b, 'cbor'));
      hr.push(...late);
      // The device reports its lead off during minute 59, and its battery low.
      gw.acceptMqtt(statusTopic(P, D), new TextEncoder().encode(JSON.stringify({ battery: 12, leadOff: true })), BASE + MINUTE_MS + 5_000);
      gw.acceptMqtt(statusTopic(P, D), new TextEncoder().encode('{"battery": "low"}'), BASE + MINUTE_MS + 6_000);
      await until('the hours summarised', () => gw.metrics().summariesOpen?.minutes === 0 && gw.metrics().summariesOpen?.hours === 0 && gw.metrics().pendingReadings === 0, gw);
      const m = gw.metrics();
      assert.equal(m.statusRejected, 1);
      assert.equal(m.readingsSealed, hr.length + ecg.length, 'summaries are not counted as readings');
      await gw.stop();

      const got = await summaries(t.dir);
      assert.deepEqual([...got.keys()].sort(), ['ecg/summary-1h', 'ecg/summary-1m', 'hr/summary-1h', 'hr/summary-1m']);
      const hrMinutes = got.get('hr/summary-1m')!;
      assert.ok(hrMinutes.filter((r) => r.t === BASE).length >= 2, 'the late readings are a piece of their own');
      check(hrMinutes, 'hr', hr, MINUTE_MS, 'hr minutes');
      check(got.get('ecg/summary-1m'), 'ecg', ecg, MINUTE_MS, 'ecg minutes');
      check(got.get('hr/summary-1h'), 'hr', hr, HOUR_MS, 'hr hours');
      check(got.get('hr/summary-1h'), 'hr', hr, MINUTE_MS, 'hr minutes inside the hours');
      check(got.get('ecg/summary-1h'), 'ecg', ecg, HOUR_MS, 'ecg hours');
      assert.ok(got.get('ecg/summary-1h')!.every((r) => r.s === undefined), 'hour summaries carry no per-second envelope');
      // The status report is on both of the device's streams, in minute 59, and in the hour's minute rows.
      for (const k of ['hr/summary-1m', 'ecg/summary-1m', 'hr/summary-1h']) {
        const e = mergeRows(k.startsWith('hr') ? 'hr' : 'ecg', got.get(k)!).filter((r) => r.p === MINUTE_MS).flatMap((r) => (r.e ?? []).map((ev) => ({ ...ev, minute: r.t })));
        assert.deepEqual(e, [{ ts: BASE + MINUTE_MS + 5_000, battery: 12, leadOff: true, minute: BASE + MINUTE_MS }], k);
      }

      // Readers that count readings see readings only; the index tells the kinds apart.
      let readings = 0;
      for await (const b of readStore(t.dir, PASS)) {
        assert.ok(b.ok && b.header.kind === 'readings');
        readings += b.bodies.length;
      }
      assert.equal(readings, hr.length + ecg.length);
      const recs = await BatchIndex.load(dataDirLayout(t.dir).index);
      const kinds = new Set(recs.map((r) => r.kind ?? 'readings'));
      assert.deepEqual([...kinds].sort(), ['readings', 'summary-1h', 'summary-1m']);
      // Summaries are numbered on their own: readings batches keep a gapless sequence.
      for (const s of ['hr', 'ecg']) {
        const seqs = recs.filter((r) => r.stream === s && !r.kind).map((r) => r.seq);
        assert.deepEqual(seqs, seqs.map((_, i) => i));
      }
    } finally {
      await t.cleanup();
    }
  });

  it('after a crash, summarises what was durable but not yet summarised, and nothing twice', async () => {
    const t = await tempDir();
    const snapshots: string[] = [];
    const crash = async (name: string) => {
      const dir = `${t.dir}-${name}`;
      await cp(t.dir, dir, { recursive: true });
      // A crashed process leaves its lock behind, naming a pid that no longer runs; ours still does.
      await rm(join(dir, 'lock'));
      snapshots.push(dir);
      return dir;
    };
    try {
      const gw = await Gateway.start({ dataDir: t.dir, passphrase: PASS, scrypt: TEST_SCRYPT, logger: memoryLogger().logger, batchWindowMs: 1000 });
      const hr = hrReadings();
      const ecg = ecgFrames();
      feed(gw, hr, ecg);
      await until('every reading durable', () => gw.metrics().pendingReadings === 0 && gw.metrics().readingsSealed === hr.length + ecg.length, gw);
      // Crash 1: readings durable, no summary sealed yet (a minute waits 2 s after its last reading).
      const noSummaries = await crash('before-minutes');
      await until('the minutes sealed', () => gw.metrics().summariesOpen?.minutes === 0 && gw.metrics().summariesSealed > 0, gw);
      // Crash 2: minutes sealed, hours still open (an hour waits for its minutes to be durable).
      const minutesOnly = await crash('before-hours');
      await gw.stop();

      const before = await BatchIndex.load(dataDirLayout(noSummaries).index);
      assert.equal(before.filter((r) => r.kind).length, 0, 'the first crash came before any summary');
      const mid = await BatchIndex.load(dataDirLayout(minutesOnly).index);
      assert.ok(mid.some((r) => r.kind === 'summary-1m') && !mid.some((r) => r.kind === 'summary-1h'), 'the second crash came between minutes and hours');

      for (const dir of [noSummaries, minutesOnly]) {
        const { logger, lines } = memoryLogger();
        const again = await Gateway.start({ dataDir: dir, passphrase: PASS, scrypt: TEST_SCRYPT, logger, batchWindowMs: 1000 });
        await again.stop();
        assert.ok(lines.some((l) => /took back readings and minutes/.test(String(l.msg))), 'recovery is logged');
        const got = await summaries(dir);
        check(got.get('hr/summary-1m'), 'hr', hr, MINUTE_MS, `${dir}: hr minutes`);
        check(got.get('ecg/summary-1m'), 'ecg', ecg, MINUTE_MS, `${dir}: ecg minutes`);
        check(got.get('hr/summary-1h'), 'hr', hr, HOUR_MS, `${dir}: hr hours`);
        check(got.get('ecg/summary-1h'), 'ecg', ecg, HOUR_MS, `${dir}: ecg hours`);
      }
    } finally {
      await t.cleanup();
      for (const d of snapshots) await rm(d, { recursive: true, force: true });
    }
  });

  it('can be turned off', async () => {
    const t = await tempDir();
    try {
      const gw = await Gateway.start({ dataDir: t.dir, passphrase: PASS, scrypt: TEST_SCRYPT, logger: memoryLogger().logger, batchWindowMs: 100, summaries: false });
      feed(gw, hrReadings().slice(0, 10), []);
      await gw.stop();
      assert.equal(gw.metrics().summariesSealed, 0);
      assert.equal((await BatchIndex.load(dataDirLayout(t.dir).index)).filter((r) => r.kind).length, 0);
    } finally {
      await t.cleanup();
    }
  });
});

