import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import {
  deviceStates, encodeCbor, encodeHeader, forEachPeriod, gapsIn, gapThreshold, HOUR_MS, sourceFor, summaryQueryStart, MINUTE_MS, mergeRows, openBatch, openSummary, parseBatch, parseDeviceStatus,
  sealBatch, sealPlaintext, sealSummary, SummaryBuilder, validateSummaryRows,
  type ReadingBody, type StreamName, type SummaryKind, type SummaryRow, type WaveformBody,
} from '../src/index.js';

interface SummaryVector {
  dkHex: string; nonceHex: string; kind: SummaryKind; stream: StreamName; patientId: string; deviceId: string; epoch: number; seq: number;
  rows: SummaryRow[]; headerHex: string; sealedHex: string; batchId: string;
}
const vectors = JSON.parse(readFileSync(new URL('../../../docs/vectors/summary-v2.json', import.meta.url), 'utf8')) as { summaries: SummaryVector[] };

const T0 = Date.UTC(2026, 11, 4, 10, 0, 0);
const key = new Uint8Array(32).fill(7);

/** Rows of one period built in one go, for comparing with pieces merged. */
function build(stream: StreamName, bodies: ReadingBody[], periodMs: number, perSecond: boolean): SummaryRow[] {
  const bs = new Map<number, SummaryBuilder>();
  for (const b of bodies) {
    forEachPeriod(stream, b, periodMs, (t, from, to) => {
      let sb = bs.get(t);
      if (!sb) bs.set(t, (sb = new SummaryBuilder(stream, t, periodMs, perSecond)));
      if ('samples' in b) sb.addSamples(b, from, to);
      else sb.addScalar(b.values);
    });
  }
  return [...bs.values()].map((b) => b.row()).sort((a, b) => a.t - b.t);
}

function close(a: SummaryRow[], b: SummaryRow[]): void {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) {
    const [x, y] = [a[i]!, b[i]!];
    assert.deepEqual({ ...x, v: undefined }, { ...y, v: undefined });
    assert.deepEqual(Object.keys(x.v).sort(), Object.keys(y.v).sort());
    for (const k of Object.keys(x.v)) {
      const [p, q] = [x.v[k]!, y.v[k]!];
      assert.deepEqual([p[0], p[1], p[3]], [q[0], q[1], q[3]]);
      assert.ok(Math.abs(p[2] - q[2]) <= 1e-9 * Math.max(1, Math.abs(q[2])), `${k} mean ${p[2]} vs ${q[2]}`);
    }
  }
}

describe('sealed summaries (sealed batch v2)', () => {
  for (const v of vectors.summaries) {
    it(`reproduces the documented ${v.kind} ${v.stream} vector byte for byte, and opens it`, () => {
      const s = sealSummary(hexToBytes(v.dkHex), { kind: v.kind, stream: v.stream, patientId: v.patientId, deviceId: v.deviceId, epoch: v.epoch, seq: v.seq, rows: v.rows }, hexToBytes(v.nonceHex));
      assert.equal(bytesToHex(encodeHeader(s.header)), v.headerHex);
      assert.equal(bytesToHex(s.bytes), v.sealedHex);
      assert.equal(createHash('sha256').update(hexToBytes(v.sealedHex)).digest('hex'), v.batchId);
      const parsed = parseBatch(hexToBytes(v.sealedHex));
      assert.ok(parsed.ok);
      assert.equal(parsed.value.header.version, 2);
      assert.equal(parsed.value.header.kind, v.kind);
      const opened = openSummary(hexToBytes(v.dkHex), parsed.value);
      assert.ok(opened.ok, opened.ok ? '' : opened.reason);
      assert.deepEqual(opened.value, v.rows);
    });
  }

  it('keeps readings batches at version 1, byte for byte as before', () => {
    const s = sealBatch(key, { stream: 'hr', patientId: 'p1', deviceId: 'd1', epoch: 1, seq: 0, bodies: [{ seq: 1, ts: T0, values: { hr: 60 } }] });
    assert.equal(s.bytes[4], 1);
    const p = parseBatch(s.bytes);
    assert.ok(p.ok);
    assert.equal(p.value.header.kind, 'readings');
  });

  it('opens a summary only as a summary and readings only as readings', () => {
    const sum = sealSummary(key, { kind: 'summary-1m', stream: 'hr', patientId: 'p1', deviceId: 'd1', epoch: 1, seq: 0, rows: [{ t: T0, p: MINUTE_MS, n: 1, v: { hr: [60, 60, 60, 1] } }] });
    const ps = parseBatch(sum.bytes);
    assert.ok(ps.ok);
    const asReadings = openBatch(key, ps.value);
    assert.ok(!asReadings.ok && /summary-1m batch, not readings/.test(asReadings.reason));
    const rd = sealBatch(key, { stream: 'hr', patientId: 'p1', deviceId: 'd1', epoch: 1, seq: 0, bodies: [{ seq: 1, ts: T0, values: { hr: 60 } }] });
    const pr = parseBatch(rd.bytes);
    assert.ok(pr.ok);
    const asSummary = openSummary(key, pr.value);
    assert.ok(!asSummary.ok && /holds readings/.test(asSummary.reason));
  });

  it('refuses a kind byte it does not know, and readings dressed as version 2', () => {
    const sum = sealSummary(key, { kind: 'summary-1h', stream: 'spo2', patientId: 'p1', deviceId: 'd1', epoch: 1, seq: 0, rows: [{ t: T0, p: HOUR_MS, n: 1, v: { spo2: [97, 97, 97, 1] } }] });
    for (const k of [0, 3, 255]) {
      const bad = sum.bytes.slice();
      bad[6] = k;
      const p = parseBatch(bad);
      assert.ok(!p.ok && /unknown batch kind/.test(p.reason), String(k));
    }
    assert.throws(() => encodeHeader({ ...sum.header, version: 1 }), /written as version 2/);
  });

  it('fails a summary with one flipped byte, wherever it is, or with another stream\'s key', () => {
    const sum = sealSummary(key, { kind: 'summary-1m', stream: 'ecg', patientId: 'p1', deviceId: 'd1', epoch: 1, seq: 0, rows: [{ t: T0, p: MINUTE_MS, n: 2, v: { lead: [-5, 5, 0, 2] }, s: [[T0, -5, 5]] }] });
    for (let i = 0; i < sum.bytes.length; i += 7) {
      const bad = sum.bytes.slice();
      bad[i]! ^= 0x01;
      const p = parseBatch(bad);
      if (!p.ok) continue;
      assert.ok(!openSummary(key, p.value).ok, `flip at ${i} went unnoticed`);
    }
    const p = parseBatch(sum.bytes);
    assert.ok(p.ok);
    assert.ok(!openSummary(new Uint8Array(32).fill(8), p.value).ok);
  });

  it('splits a waveform frame that crosses a minute at the sample that crosses it', () => {
    // 250 Hz, 100 samples starting 200 ms before the minute: samples 0..49 before, 50..99 after.
    const body: WaveformBody = { seq: 0, ts: T0 + MINUTE_MS - 200, rate: 250, samples: Array.from({ length: 100 }, (_, i) => i) };
    const runs: Array<[number, number, number]> = [];
    forEachPeriod('ecg', body, MINUTE_MS, (t, a, b) => runs.push([t, a, b]));
    assert.deepEqual(runs, [[T0, 0, 50], [T0 + MINUTE_MS, 50, 100]]);
    const rows = build('ecg', [body], MINUTE_MS, true);
    assert.deepEqual(rows.map((r) => [r.t, r.n, r.v.lead]), [[T0, 50, [0, 49, 24.5, 50]], [T0 + MINUTE_MS, 50, [50, 99, 74.5, 50]]]);
    // The per-second envelope: the last second of the first minute, the first of the next.
    assert.deepEqual(rows[0]!.s, [[T0 + 59_000, 0, 49]]);
    assert.deepEqual(rows[1]!.s, [[T0 + MINUTE_MS, 50, 99]]);
  });

  it('merges pieces of a period exactly as if summarised at once (property)', () => {
    const bodyArb = fc.record({
      seq: fc.nat(), ts: fc.integer({ min: T0, max: T0 + 3 * MINUTE_MS }),
      values: fc.record({ spo2: fc.integer({ min: 70, max: 100 }), pr: fc.option(fc.integer({ min: 30, max: 200 }), { nil: undefined }) }),
    }).map((b) => ({ ...b, values: Object.fromEntries(Object.entries(b.values).filter(([, x]) => x !== undefined)) as Record<string, number> }));
    fc.assert(fc.property(fc.array(bodyArb, { minLength: 1, maxLength: 60 }), fc.array(fc.nat(3), { minLength: 60, maxLength: 60 }), (bodies, pieceOf) => {
      const whole = build('spo2', bodies, MINUTE_MS, false);
      const pieces: SummaryRow[] = [];
      for (let k = 0; k < 4; k++) pieces.push(...build('spo2', bodies.filter((_, i) => pieceOf[i] === k), MINUTE_MS, false));
      close(mergeRows('spo2', pieces), whole);
      // And a minute's rows folded into their hour give the hour summarised at once.
      const hour = new SummaryBuilder('spo2', T0, HOUR_MS, false);
      for (const r of whole) hour.addRow(r);
      close([hour.row()], build('spo2', bodies, HOUR_MS, false));
    }), { numRuns: 200 });
  });

  it('merges waveform pieces, per-second envelopes included (property)', () => {
    const frameArb = fc.record({
      seq: fc.nat(), ts: fc.integer({ min: T0 + 50_000, max: T0 + 70_000 }), rate: fc.constantFrom(25, 250),
      samples: fc.array(fc.integer({ min: -5000, max: 5000 }), { minLength: 1, maxLength: 300 }),
    });
    fc.assert(fc.property(fc.array(frameArb, { minLength: 1, maxLength: 8 }), fc.nat(), (frames, cut) => {
      const k = cut % frames.length;
      const whole = build('ecg', frames, MINUTE_MS, true);
      const merged = mergeRows('ecg', [...build('ecg', frames.slice(0, k), MINUTE_MS, true), ...build('ecg', frames.slice(k), MINUTE_MS, true)]);
      close(merged, whole);
      for (const r of whole) assert.equal(r.n, frames.reduce((n, f) => n + f.samples.filter((_, i) => Math.floor((f.ts + Math.round((i * 1000) / f.rate)) / MINUTE_MS) * MINUTE_MS === r.t).length, 0));
    }), { numRuns: 100 });
  });

  it('never throws on any decoded value, and refuses rows that break the rules', () => {
    fc.assert(fc.property(fc.anything(), fc.constantFrom<SummaryKind>('summary-1m', 'summary-1h'), fc.constantFrom<StreamName>('ecg', 'hr', 'bp', 'acc'), (raw, kind, stream) => {
      const r = validateSummaryRows(kind, stream, raw, { firstTs: 0, lastTs: Number.MAX_SAFE_INTEGER, count: Array.isArray(raw) ? raw.length : 0 });
      assert.equal(typeof r.ok, 'boolean');
    }), { numRuns: 2000 });
    const range = { firstTs: T0, lastTs: T0 + HOUR_MS - 1, count: 1 };
    const bad: Array<[unknown, RegExp]> = [
      [[{ t: T0 + 1, p: MINUTE_MS, n: 1, v: {} }], /period start/],
      [[{ t: T0, p: HOUR_MS, n: 1, v: {} }], /does not belong/],
      [[{ t: T0, p: MINUTE_MS, n: 1, v: { hr: [61, 60, 60, 1] } }], /min above max/],
      [[{ t: T0, p: MINUTE_MS, n: 1, v: { hr: [60, 60, 60, 2] } }], /count outside/],
      [[{ t: T0, p: MINUTE_MS, n: 1, v: { spo2: [60, 60, 60, 1] } }], /unknown field "spo2" for hr/],
      [[{ t: T0, p: MINUTE_MS, n: 1, v: {}, s: [[T0, 1, 2]] }], /only waveform/],
      [[{ t: T0, p: MINUTE_MS, n: 0, v: {}, e: [{ ts: T0 + MINUTE_MS, battery: 10 }] }], /outside the period/],
      [[{ t: T0, p: MINUTE_MS, n: 0, v: {}, e: [{ ts: T0, battery: 101 }] }], /battery/],
      [[{ t: T0, p: MINUTE_MS, n: 0, v: {}, x: 1 }], /unknown field "x"/],
      [[{ t: T0 - MINUTE_MS, p: MINUTE_MS, n: 0, v: {} }], /outside the header/],
    ];
    for (const [raw, re] of bad) {
      const r = validateSummaryRows('summary-1m', 'hr', raw, range);
      assert.ok(!r.ok && re.test(r.reason), `${JSON.stringify(raw)}: ${r.ok ? 'accepted' : r.reason}`);
    }
  });

  it('opens only what was sealed: a summary whose header count lies is refused', () => {
    const rows: SummaryRow[] = [{ t: T0, p: MINUTE_MS, n: 1, v: { hr: [60, 60, 60, 1] } }];
    const s = sealPlaintext(key, { version: 2, kind: 'summary-1m', stream: 'hr', patientId: 'p', deviceId: 'd', epoch: 0, seq: 0, firstTs: T0, lastTs: T0 + MINUTE_MS - 1, count: 2, nonce: new Uint8Array(24) }, encodeCbor(rows));
    const p = parseBatch(s.bytes);
    assert.ok(p.ok);
    const o = openSummary(key, p.value);
    assert.ok(!o.ok && /header says 2 rows/.test(o.reason));
  });
});

describe('device status reports', () => {
  it('takes what a device says about itself and refuses the rest', () => {
    const enc = (x: unknown) => new TextEncoder().encode(JSON.stringify(x));
    assert.deepEqual(parseDeviceStatus(enc({ battery: 14, leadOff: true })), { ok: true, value: { battery: 14, leadOff: true } });
    assert.deepEqual(parseDeviceStatus(enc({})), { ok: true, value: {} });
    for (const [x, re] of [[{ battery: 101 }, /battery/], [{ battery: 5.5 }, /battery/], [{ leadOff: 1 }, /leadOff/], [{ hr: 60 }, /unknown status field/], [[1], /not an object/]] as const) {
      const r = parseDeviceStatus(enc(x));
      assert.ok(!r.ok && re.test(r.reason), JSON.stringify(x));
    }
    assert.ok(!parseDeviceStatus(new Uint8Array([0xff, 0xfe])).ok);
    assert.ok(!parseDeviceStatus(new Uint8Array(2000).fill(0x20)).ok);
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (b) => { assert.equal(typeof parseDeviceStatus(b).ok, 'boolean'); }));
  });
});

describe('timeline: source, gaps and device states for a chart', () => {
  it('loads readings up to an hour, minute summaries up to six hours, hour summaries beyond', () => {
    assert.deepEqual([60_000, HOUR_MS, HOUR_MS + 1, 6 * HOUR_MS, 6 * HOUR_MS + 1, 7 * 24 * HOUR_MS].map(sourceFor),
      ['readings', 'readings', 'summary-1m', 'summary-1m', 'summary-1h', 'summary-1h']);
    assert.equal(summaryQueryStart('summary-1h', T0 + 30 * MINUTE_MS + 5), T0);
    assert.equal(summaryQueryStart('summary-1m', T0 + 30 * MINUTE_MS + 5), T0 + 30 * MINUTE_MS);
    assert.equal(summaryQueryStart('readings', T0 + 5), T0 + 5);
  });

  it('finds gaps between readings and at the end, not for one late reading', () => {
    const times = [0, 1000, 2000, 3500, 4500, 40_000, 41_000].map((x) => T0 + x);
    const th = gapThreshold(times);
    assert.equal(th, 10_000);
    assert.deepEqual(gapsIn(times, T0 + 42_000, th), [{ from: T0 + 4500, to: T0 + 40_000 }]);
    assert.deepEqual(gapsIn(times, T0 + 60_000, th), [{ from: T0 + 4500, to: T0 + 40_000 }, { from: T0 + 41_000, to: T0 + 60_000 }]);
    assert.deepEqual(gapsIn([], T0, th), []);
    // Readings every 30 s: a gap is five of them missing, not one.
    const slow = Array.from({ length: 20 }, (_, i) => T0 + i * 30_000);
    assert.equal(gapThreshold(slow), 150_000);
  });

  it('turns status reports into lead-off and low-battery intervals, each report once', () => {
    const ev = (ts: number, o: object, deviceId = 'strap') => ({ ts: T0 + ts, deviceId, ...o });
    const events = [
      ev(0, { battery: 50 }), ev(10_000, { battery: 40, leadOff: true }), ev(10_000, { battery: 40, leadOff: true }),
      ev(40_000, { battery: 14 }), ev(50_000, {}), ev(70_000, { battery: 80 }),
      ev(20_000, { leadOff: true }, 'other'),
    ];
    assert.deepEqual(deviceStates(events, T0 + 100_000), [
      { deviceId: 'strap', state: 'lead-off', from: T0 + 10_000, to: T0 + 40_000 },
      { deviceId: 'other', state: 'lead-off', from: T0 + 20_000, to: T0 + 100_000 },
      { deviceId: 'strap', state: 'low-battery', from: T0 + 40_000, to: T0 + 70_000 },
    ]);
  });
});
