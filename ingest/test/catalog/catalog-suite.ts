/**
 * One suite that every catalog passes: the embedded one (LevelDB in a directory,
 * catalog/embedded-catalog.test.ts) and InfluxDB 1.x (a real influxd on loopback,
 * integration/catalog/influx-catalog.test.ts). Expected results are computed here from the
 * generated batches, never from either implementation.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import type { StreamName } from '@vitalgate/protocol';
import type { Catalog, CatalogAnchor, CatalogBatch, CatalogEntry, HourlyCount } from '../../src/index.js';

export const HOUR = 3_600_000;
/** Not on an hour boundary, so the first and last hours are partial. */
export const T0 = Date.UTC(2026, 11, 3, 8, 17, 23, 456);
const STREAMS: StreamName[] = ['ecg', 'hr', 'spo2'];

export const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
/** An id whose first 8 hex are fixed: ids sharing a prefix get the same sub-millisecond slot in a time-ordered store. */
export const idWith = (prefix: string, seed: string): string => prefix + sha(seed).slice(prefix.length);

let patients = 0;
export const newPatient = (): string => `pt-${process.pid}-${++patients}`;

export function batch(patientId: string, o: Partial<CatalogBatch> & { id: string; firstTs: number }): CatalogBatch {
  return { patientId, stream: 'hr', deviceId: 'strap-1', epoch: 2, seq: 0, lastTs: o.firstTs + 999, count: 10, bytes: 512, ...o };
}

export const anchorN = (n: number): CatalogAnchor => ({ root: `0x${sha(`root${n}`)}`, tx: `0x${sha(`tx${n}`)}`, block: 100 + n, gateway: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8' });
export const refOf = (b: CatalogBatch) => ({ id: b.id, patientId: b.patientId, stream: b.stream, firstTs: b.firstTs });
const byKey = (a: CatalogBatch, b: CatalogBatch): number => a.firstTs - b.firstTs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

async function all(cat: Catalog, q: { patientId: string; from: number; to: number; stream?: StreamName }, limit: number): Promise<CatalogEntry[]> {
  const out: CatalogEntry[] = [];
  let after: string | undefined;
  for (let pages = 0; ; pages++) {
    const page = await cat.batches({ ...q, limit, ...(after && { after }) });
    assert.ok(page.entries.length <= limit);
    out.push(...page.entries);
    if (page.next === null) return out;
    assert.match(page.next, /^[A-Za-z0-9_-]{1,200}$/, 'a cursor must pass the route\'s check');
    assert.ok(page.entries.length > 0, 'a page with a next cursor has entries');
    assert.ok(pages < 100_000, 'paging does not end');
    after = page.next;
  }
}

async function inParallel<T>(items: T[], n: number, f: (x: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: n }, async () => { while (i < items.length) await f(items[i++]!); }));
}

function hourly(bs: CatalogBatch[], from: number, to: number): HourlyCount[] {
  const m = new Map<string, HourlyCount>();
  for (const b of bs) {
    if (b.firstTs < from || b.firstTs >= to) continue;
    const hour = b.firstTs - (b.firstTs % HOUR);
    const k = `${hour} ${b.stream}`;
    const c = m.get(k) ?? { stream: b.stream, hour, batches: 0, readings: 0 };
    c.batches += 1;
    c.readings += b.count;
    m.set(k, c);
  }
  return [...m.values()].sort((a, b) => a.hour - b.hour || a.stream.localeCompare(b.stream));
}

/** What a backend provides to the shared suite. */
export interface Backend {
  /** Mocha's `this` in the before hook, for requireProgram. */
  setUp(ctx: Mocha.Context): Promise<void>;
  catalog(): Catalog;
  /** Close and reopen (embedded) or restart the server (InfluxDB); resolves when the catalog answers again. */
  reopen(): Promise<void>;
  tearDown(): Promise<void>;
}

export function catalogSuite(name: string, backend: Backend, extra?: () => void): void {
  describe(`catalog: ${name}`, function () {
    this.timeout(60_000);
    before(async function () { await backend.setUp(this); });
    after(async () => { await backend.tearDown(); });
    const cat = (): Catalog => backend.catalog();

    it('addBatch is idempotent: the same batch, again and concurrently, is one entry', async () => {
      const p = newPatient();
      const b = batch(p, { id: sha('idem'), firstTs: T0 });
      await cat().addBatch(b);
      await Promise.all([cat().addBatch(b), cat().addBatch({ ...b }), cat().addBatch(b)]);
      const page = await cat().batches({ patientId: p, from: 0, to: T0 + HOUR, limit: 10 });
      assert.deepEqual(page, { entries: [b], next: null });
    });

    it('addBatches (a bundle\'s) is addBatch for each: new ones added, known ones and repeats once, in order', async () => {
      const p = newPatient();
      const known = batch(p, { id: sha('bundle-known'), firstTs: T0 + 10 });
      await cat().addBatch(known);
      const fresh = [0, 1, 2].map((i) => batch(p, { id: sha(`bundle-${i}`), firstTs: T0 + 20 + i, stream: STREAMS[i % STREAMS.length]! }));
      await cat().addBatches([fresh[2]!, known, fresh[0]!, fresh[1]!, fresh[0]!]);
      await cat().addBatches([]);
      const page = await cat().batches({ patientId: p, from: 0, to: T0 + HOUR, limit: 10 });
      assert.deepEqual(page, { entries: [known, ...fresh], next: null });
    });

    it('an anchor recorded before or after its batch shows on the entry; an unanchored batch has none', async () => {
      const p = newPatient();
      const [early, late, none] = ['early', 'late', 'none'].map((s, i) => batch(p, { id: sha(s), firstTs: T0 + i * 1000, stream: STREAMS[i]! }));
      await cat().addAnchor(anchorN(1), [refOf(early!)]);
      await cat().addBatch(early!);
      await cat().addBatch(late!);
      await cat().addBatch(none!);
      await cat().addAnchor(anchorN(2), [refOf(late!)]);
      await cat().addAnchor(anchorN(2), [refOf(late!)]); // idempotent
      // An anchor naming a batch for another patient never shows on this one's.
      await cat().addAnchor(anchorN(3), [{ ...refOf(none!), patientId: newPatient() }]);
      const { entries } = await cat().batches({ patientId: p, from: T0, to: T0 + HOUR, limit: 10 });
      assert.deepEqual(entries, [{ ...early!, anchor: anchorN(1) }, { ...late!, anchor: anchorN(2) }, none]);
      assert.equal('anchor' in entries[2]!, false);
    });

    it('an anchor for a batch never cataloged is not an entry, and counts nothing', async () => {
      const p = newPatient();
      const b = batch(p, { id: sha('orphan-real'), firstTs: T0 });
      await cat().addAnchor(anchorN(4), [refOf(batch(p, { id: sha('orphan'), firstTs: T0 + 5 }))]);
      await cat().addBatch(b);
      assert.deepEqual((await cat().batches({ patientId: p, from: T0, to: T0 + HOUR, limit: 10 })).entries, [b]);
      assert.deepEqual(await cat().hourlyCounts({ patientId: p, from: T0, to: T0 + HOUR }), hourly([b], T0, T0 + HOUR));
    });

    it('time range is [from, to): from included, to excluded, to the millisecond', async () => {
      const p = newPatient();
      const from = T0, to = T0 + 10_000;
      const bs = [from - 1, from, from + 1, to - 1, to, to + 1].map((t) => batch(p, { id: sha(`range${t}`), firstTs: t }));
      for (const b of bs) await cat().addBatch(b);
      const { entries } = await cat().batches({ patientId: p, from, to, limit: 10 });
      assert.deepEqual(entries.map((e) => e.firstTs), [from, from + 1, to - 1]);
      assert.deepEqual(await cat().batches({ patientId: p, from: to, to: to, limit: 10 }), { entries: [], next: null });
      assert.deepEqual(await cat().hourlyCounts({ patientId: p, from, to }), hourly(bs, from, to));
    });

    it('lists summaries apart from readings, by kind, anchors joined, even at the very same time as a readings batch', async () => {
      const p = newPatient();
      // Same stream, same millisecond, same id prefix: only the kind keeps them apart.
      const reading = batch(p, { id: idWith('abcd0123', 'k-readings'), firstTs: T0 });
      const minute = batch(p, { id: idWith('abcd0123', 'k-minute'), firstTs: T0, lastTs: T0 + 59_999, count: 1, kind: 'summary-1m' });
      const minute2 = batch(p, { id: sha('k-minute2'), firstTs: T0 + 60_000, lastTs: T0 + 119_999, count: 1, kind: 'summary-1m' });
      const hour = batch(p, { id: sha('k-hour'), firstTs: T0, lastTs: T0 + HOUR - 1, count: 61, kind: 'summary-1h' });
      await cat().addAnchor(anchorN(7), [{ ...refOf(minute), kind: 'summary-1m' }]);
      await cat().addBatches([reading, minute, hour]);
      await cat().addBatch(minute2);
      await cat().addBatch(minute); // idempotent
      const q = { patientId: p, from: T0, to: T0 + HOUR, limit: 10 };
      assert.deepEqual((await cat().batches(q)).entries, [reading]);
      assert.deepEqual((await cat().batches({ ...q, kind: 'readings' })).entries, [reading]);
      assert.deepEqual((await cat().batches({ ...q, kind: 'summary-1m' })).entries, [{ ...minute, anchor: anchorN(7) }, minute2]);
      assert.deepEqual((await cat().batches({ ...q, kind: 'summary-1m', stream: 'hr', limit: 1 })).entries, [{ ...minute, anchor: anchorN(7) }]);
      assert.deepEqual((await cat().batches({ ...q, kind: 'summary-1h', stream: 'hr' })).entries, [hour]);
      assert.deepEqual((await cat().batches({ ...q, kind: 'summary-1h', stream: 'spo2' })).entries, []);
      // Counts are of readings: a summary's count is its rows.
      assert.deepEqual(await cat().hourlyCounts({ patientId: p, from: T0, to: T0 + HOUR }), hourly([reading], T0, T0 + HOUR));
      await assert.rejects(cat().addBatch({ ...reading, id: sha('k-bad'), kind: 'readings' as never }), /kind must be summary-1m or summary-1h/);
    });

    it('filters by stream', async () => {
      const p = newPatient();
      const bs = STREAMS.flatMap((stream, s) => [0, 1, 2].map((i) => batch(p, { id: sha(`st${s}${i}`), firstTs: T0 + i, stream })));
      for (const b of bs) await cat().addBatch(b);
      for (const stream of STREAMS) {
        assert.deepEqual(await all(cat(), { patientId: p, from: T0, to: T0 + 10, stream }, 2), bs.filter((b) => b.stream === stream).sort(byKey));
      }
      assert.deepEqual(await all(cat(), { patientId: p, from: T0, to: T0 + 10, stream: 'temp' }, 5), []);
    });

    it('orders by (firstTs, id), equal firstTs across streams and devices included', async () => {
      const p = newPatient();
      // Same firstTs; ids sharing their first 8 hex digits, across streams and devices.
      const bs: CatalogBatch[] = [];
      for (const [s, stream] of STREAMS.entries()) {
        bs.push(batch(p, { id: idWith('00000000', `o${s}a`), firstTs: T0, stream, deviceId: 'strap-1' }));
        bs.push(batch(p, { id: idWith('ffffffff', `o${s}b`), firstTs: T0, stream, deviceId: 'strap-2' }));
        bs.push(batch(p, { id: idWith('00000001', `o${s}c`), firstTs: T0 + 1, stream, deviceId: 'strap-2' }));
      }
      for (const b of [...bs].reverse()) await cat().addBatch(b);
      const sorted = [...bs].sort(byKey);
      assert.deepEqual((await cat().batches({ patientId: p, from: T0, to: T0 + 2, limit: 100 })).entries, sorted);
      for (const limit of [1, 2, 4]) assert.deepEqual(await all(cat(), { patientId: p, from: T0, to: T0 + 2 }, limit), sorted, `limit ${limit}`);
    });

    it('refuses a cursor it did not make, with an error that says cursor', async () => {
      const q = { patientId: newPatient(), from: 0, to: T0, limit: 10 };
      for (const after of ['nonsense', '_'.repeat(54), Buffer.alloc(41).toString('base64url')]) {
        await assert.rejects(cat().batches({ ...q, after }), /cursor/i, after);
      }
    });

    it('keeps patients apart: one patient\'s queries never return another\'s batches', async () => {
      const a = newPatient(), b = `${a}0`, c = `${a}.x`; // one id a prefix of the others
      for (const [i, p] of [a, b, c].entries()) await cat().addBatch(batch(p, { id: sha(`iso${i}`), firstTs: T0 + i, count: i + 1 }));
      for (const [i, p] of [a, b, c].entries()) {
        const { entries } = await cat().batches({ patientId: p, from: 0, to: T0 + HOUR, limit: 1000 });
        assert.deepEqual(entries.map((e) => [e.patientId, e.id]), [[p, sha(`iso${i}`)]]);
        assert.deepEqual(await cat().hourlyCounts({ patientId: p, from: 0, to: T0 + HOUR }), [{ stream: 'hr', hour: T0 - (T0 % HOUR), batches: 1, readings: i + 1 }]);
      }
      assert.deepEqual((await cat().batches({ patientId: newPatient(), from: 0, to: T0 + HOUR, limit: 1000 })).entries, []);
    });

    describe('with 2500 batches over 10 hours', () => {
      const p = newPatient();
      const other = newPatient();
      // 6 batches per firstTs (3 streams × 2 devices, 90 s apart); one device's ids share their
      // first 8 hex, so three batches at a time tie on everything but id and stream.
      const bs = Array.from({ length: 2500 }, (_, i) => batch(p, {
        id: i % 2 === 0 ? idWith('00000000', `big/${i}`) : sha(`big/${i}`),
        stream: STREAMS[Math.floor(i / 2) % 3]!, deviceId: `strap-${i % 2}`, seq: i,
        firstTs: T0 + Math.floor(i / 6) * 90_000, count: (i % 50) + 1, bytes: 300 + i,
      }));
      const sorted = [...bs].sort(byKey);
      const end = T0 + Math.ceil(2500 / 6) * 90_000;

      before(async function () {
        this.timeout(60_000);
        const t = process.hrtime.bigint();
        await inParallel([...bs].reverse(), 16, (b) => cat().addBatch(b));
        const ms = Number(process.hrtime.bigint() - t) / 1e6;
        process.stdout.write(`      ${name}: 2500 addBatch in ${ms.toFixed(0)} ms (${Math.round(2500 / (ms / 1000))}/s, 16 concurrent)\n`);
        await cat().addBatch(batch(other, { id: sha('other'), firstTs: T0 + 1 }));
        await cat().addAnchor(anchorN(9), sorted.slice(0, 700).map(refOf));
      });

      const expected = (): CatalogEntry[] => sorted.map((b, i) => (i < 700 ? { ...b, anchor: anchorN(9) } : b));

      it('pages through every entry exactly once, in order, at limit 1000 and at small limits', async () => {
        for (const limit of [1000, 999, 7]) assert.deepEqual(await all(cat(), { patientId: p, from: 0, to: end + HOUR }, limit), expected(), `limit ${limit}`);
        const first = await cat().batches({ patientId: p, from: 0, to: end, limit: 1000 });
        assert.equal(first.entries.length, 1000);
        assert.notEqual(first.next, null);
      });

      it('pages by stream and within a range', async () => {
        const from = T0 + 3 * HOUR + 7, to = T0 + 5 * HOUR;
        for (const stream of STREAMS) {
          assert.deepEqual(await all(cat(), { patientId: p, from, to, stream }, 13), expected().filter((e) => e.stream === stream && e.firstTs >= from && e.firstTs < to));
        }
      });

      it('newestBatches: the last of one stream in a range, newest first, without anchors; summaries apart', async () => {
        const plain = (e: CatalogEntry) => { const { anchor: _, ...b } = e; return b; };
        for (const stream of STREAMS) {
          for (const [from, to, limit] of [[0, end + HOUR, 16], [T0 + 3 * HOUR + 7, T0 + 5 * HOUR, 5], [0, T0 + HOUR, 1000], [T0, T0 + 90_000, 3]] as const) {
            const want = expected().filter((e) => e.stream === stream && e.firstTs >= from && e.firstTs < to).reverse().slice(0, limit).map(plain);
            assert.deepEqual(await cat().newestBatches({ patientId: p, stream, from, to, limit }), want, `${stream} [${from}, ${to}) limit ${limit}`);
          }
        }
        assert.deepEqual(await cat().newestBatches({ patientId: p, stream: STREAMS[0]!, from: end + HOUR, to: end + 2 * HOUR, limit: 5 }), []);
        assert.deepEqual(await cat().newestBatches({ patientId: p, stream: STREAMS[0]!, kind: 'summary-1m', from: 0, to: end + HOUR, limit: 5 }), [], 'readings only under readings');
        assert.deepEqual(await cat().newestBatches({ patientId: other, stream: 'hr', from: 0, to: end + HOUR, limit: 5 }), [plain({ ...batch(other, { id: sha('other'), firstTs: T0 + 1 }) })]);
        await assert.rejects(cat().newestBatches({ patientId: p, stream: 'hr', from: 0, to: end, limit: 0 }), /limit/);
      });

      it('counts batches and readings per stream per UTC hour', async () => {
        assert.deepEqual(await cat().hourlyCounts({ patientId: p, from: 0, to: end + HOUR }), hourly(bs, 0, end + HOUR));
        const from = T0 + HOUR + 1234, to = T0 + 4 * HOUR + 1;
        const counts = await cat().hourlyCounts({ patientId: p, from, to });
        assert.deepEqual(counts, hourly(bs, from, to));
        assert.equal(counts.length, 4 * STREAMS.length);
      });

      it('survives a close and reopen (embedded) or a restart of influxd (InfluxDB)', async () => {
        await backend.reopen();
        assert.deepEqual(await all(cat(), { patientId: p, from: 0, to: end + HOUR }, 1000), expected());
        assert.deepEqual(await cat().hourlyCounts({ patientId: p, from: 0, to: end + HOUR }), hourly(bs, 0, end + HOUR));
        const later = batch(p, { id: sha('after-reopen'), firstTs: end + 1 });
        await cat().addBatch(later);
        assert.deepEqual((await cat().batches({ patientId: p, from: end, to: end + HOUR, limit: 10 })).entries, [later]);
      });
    });

    it('property: batches added in any order, with duplicates, page back as the sorted set of distinct batches', async () => {
      // Ids come in classes by their first 8 hex digits; at most one batch per (stream, firstTs,
      // class), as two batches of one series can share a sub-millisecond slot only by a 10⁻⁶ chance.
      const prefixes = [['00000000', '00000001'], ['7fffffff'], ['ffffffff']] as const;
      const rec = fc.record({
        stream: fc.constantFrom(...STREAMS), t: fc.constantFrom(0, 1, 2, HOUR - 1, HOUR), cls: fc.constantFrom(0, 1, 2), alt: fc.boolean(),
        seed: fc.string({ maxLength: 8 }), device: fc.constantFrom('strap-1', 'strap-2'), count: fc.integer({ min: 1, max: 5000 }),
      });
      // Every batch once plus some again, all in a random order.
      const scenario = fc.uniqueArray(rec, { selector: (r) => `${r.stream}|${r.t}|${r.cls}`, minLength: 1, maxLength: 40 })
        .chain((recs) => fc.tuple(fc.constant(recs), fc.array(fc.nat(recs.length - 1), { maxLength: 15 }), fc.integer({ min: 1, max: 9 })))
        .chain(([recs, again, limit]) => fc.tuple(
          fc.constant(recs),
          fc.shuffledSubarray([...recs.keys(), ...again], { minLength: recs.length + again.length }),
          fc.constant(limit),
        ));
      await fc.assert(fc.asyncProperty(scenario, async ([recs, order, limit]) => {
        const p = newPatient();
        const bs = recs.map((r, i) => {
          const group = prefixes[r.cls]!;
          return batch(p, { id: idWith(group[r.alt ? group.length - 1 : 0]!, `${r.seed}/${i}`), stream: r.stream, deviceId: r.device, firstTs: T0 + r.t, count: r.count });
        });
        for (const i of order) await cat().addBatch(bs[i]!);
        assert.deepEqual(await all(cat(), { patientId: p, from: T0, to: T0 + 2 * HOUR }, limit), [...bs].sort(byKey));
        assert.deepEqual(await cat().hourlyCounts({ patientId: p, from: T0, to: T0 + 2 * HOUR }), hourly(bs, T0, T0 + 2 * HOUR));
      }), { numRuns: 25 });
    });

    extra?.();
  });
}
