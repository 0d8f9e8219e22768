/**
 * The catalog in a directory, on LevelDB (classic-level): what ingest uses when no InfluxDB is
 * configured, with no server to run. One process at a time (LevelDB locks the directory).
 *
 * Keys are laid out for the queries, as ordered byte strings ('!' sorts before every id character):
 *   b!{patient}!{firstTs: 16 hex}!{id}            → batch JSON   all streams, in (firstTs, id) order
 *   s!{patient}!{stream}!{firstTs: 16 hex}!{id}   → batch JSON   one stream, same order
 *   a!{patient}!{id}                              → anchor JSON  joined at read
 *   k!{kind}!{patient}!{firstTs}!{id}, ks!{kind}!{patient}!{stream}!{firstTs}!{id}
 *                                                 → the same for summaries, apart from readings so
 *                                                   that neither kind's pages wade through the other
 * Anchors are keyed by batch id rather than stored inside the batch's value, so an anchor that
 * arrives before its batch simply waits there; keying them under the patient too means an anchor
 * naming another patient's batch id can never show on this patient's entries.
 *
 * Writes are acknowledged to gateways, which then stop retrying, so they are synced to disk
 * (`sync: true`) before they resolve; a batch and its stream index go in one atomic write.
 */
import { mkdir } from 'node:fs/promises';
import { ClassicLevel } from 'classic-level';
import type { StreamName } from '@vitalgate/protocol';
import type { AnchoredBatchRef, BatchPage, BatchQuery, Catalog, CatalogAnchor, CatalogBatch, CatalogEntry, HourlyCount, NewestQuery } from './catalog.js';
import { checkAnchor, checkBatch, checkLimit, checkQuery, checkRef, clampTs, decodeCursor, encodeCursor } from './catalog-input.js';

const HOUR = 3_600_000;

const ts16 = (ms: number): string => ms.toString(16).padStart(16, '0');
const allPrefix = (patient: string, kind?: string): string => (kind && kind !== 'readings' ? `k!${kind}!${patient}!` : `b!${patient}!`);
const streamPrefix = (patient: string, stream: string, kind?: string): string => (kind && kind !== 'readings' ? `ks!${kind}!${patient}!${stream}!` : `s!${patient}!${stream}!`);
const allKey = (patient: string, firstTs: number, id: string, kind?: string): string => `${allPrefix(patient, kind)}${ts16(firstTs)}!${id}`;
const streamKey = (patient: string, stream: string, firstTs: number, id: string, kind?: string): string => `${streamPrefix(patient, stream, kind)}${ts16(firstTs)}!${id}`;
const rowOf = (b: CatalogBatch): string => JSON.stringify({ id: b.id, patientId: b.patientId, stream: b.stream, deviceId: b.deviceId, epoch: b.epoch, seq: b.seq, firstTs: b.firstTs, lastTs: b.lastTs, count: b.count, bytes: b.bytes, ...(b.kind && { kind: b.kind }) } satisfies CatalogBatch);
const anchorKey = (patient: string, id: string): string => `a!${patient}!${id}`;


export class EmbeddedCatalog implements Catalog {
  private constructor(private readonly db: ClassicLevel<string, string>, private readonly dir: string) {}

  /** Opens (creating) the catalog in `dir`. Fails clearly if another process has it open. */
  static async open(dir: string): Promise<EmbeddedCatalog> {
    await mkdir(dir, { recursive: true });
    const db = new ClassicLevel<string, string>(dir, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
    try {
      await db.open();
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      if (cause?.code === 'LEVEL_LOCKED') throw new Error(`embedded catalog ${dir} is in use by another process (LevelDB lock); one ingest per catalog directory`, { cause: e });
      throw new Error(`embedded catalog ${dir} could not be opened: ${cause?.message ?? (e as Error).message}`, { cause: e });
    }
    return new EmbeddedCatalog(db, dir);
  }

  describe(): string {
    return `embedded catalog in ${this.dir}`;
  }

  async addBatch(b: CatalogBatch): Promise<void> {
    checkBatch(b);
    const key = allKey(b.patientId, b.firstTs, b.id, b.kind);
    // Already there: the same id is the same bytes, so nothing to write (and no fsync to wait for).
    if ((await this.db.get(key)) !== undefined) return;
    const value = rowOf(b);
    await this.db.batch([
      { type: 'put', key, value },
      { type: 'put', key: streamKey(b.patientId, b.stream, b.firstTs, b.id, b.kind), value },
    ], { sync: true });
  }

  async addBatches(bs: readonly CatalogBatch[]): Promise<void> {
    for (const b of bs) checkBatch(b);
    const keys = bs.map((b) => allKey(b.patientId, b.firstTs, b.id, b.kind));
    const have = await this.db.getMany(keys);
    const ops: Array<{ type: 'put'; key: string; value: string }> = [];
    const seen = new Set<string>();
    for (const [i, b] of bs.entries()) {
      if (have[i] !== undefined || seen.has(keys[i]!)) continue;
      seen.add(keys[i]!);
      const value = rowOf(b);
      ops.push({ type: 'put', key: keys[i]!, value }, { type: 'put', key: streamKey(b.patientId, b.stream, b.firstTs, b.id, b.kind), value });
    }
    // One synced write for the lot: a bundle costs one fsync, not one per batch.
    if (ops.length) await this.db.batch(ops, { sync: true });
  }

  async addAnchor(a: CatalogAnchor, batches: AnchoredBatchRef[]): Promise<void> {
    checkAnchor(a);
    for (const r of batches) checkRef('anchored batch', r);
    const value = JSON.stringify({ root: a.root, tx: a.tx, block: a.block, gateway: a.gateway } satisfies CatalogAnchor);
    if (batches.length === 0) return;
    await this.db.batch(batches.map((r) => ({ type: 'put' as const, key: anchorKey(r.patientId, r.id), value })), { sync: true });
  }

  async batches(q: BatchQuery): Promise<BatchPage> {
    checkQuery(q.patientId);
    checkLimit(q.limit);
    const cursor = q.after === undefined ? undefined : decodeCursor(q.after);
    const from = clampTs(q.from);
    const to = clampTs(q.to);
    if (from >= to) return { entries: [], next: null };
    const prefix = q.stream ? streamPrefix(q.patientId, q.stream, q.kind) : allPrefix(q.patientId, q.kind);
    const lower = `${prefix}${ts16(from)}`;
    const afterKey = cursor && `${prefix}${ts16(cursor.firstTs)}!${cursor.id}`;
    const range = afterKey && afterKey >= lower ? { gt: afterKey } : { gte: lower };
    const rows = await this.db.iterator({ ...range, lt: `${prefix}${ts16(to)}`, limit: q.limit + 1 }).all();
    const page = rows.slice(0, q.limit).map(([, v]) => JSON.parse(v) as CatalogEntry);
    const anchors = await this.db.getMany(page.map((e) => anchorKey(q.patientId, e.id)));
    page.forEach((e, i) => { const a = anchors[i]; if (a !== undefined) e.anchor = JSON.parse(a) as CatalogAnchor; });
    const last = page[page.length - 1];
    return { entries: page, next: rows.length > q.limit && last ? encodeCursor(last.firstTs, last.id) : null };
  }

  async newestBatches(q: NewestQuery): Promise<CatalogBatch[]> {
    checkQuery(q.patientId);
    checkLimit(q.limit);
    const from = clampTs(q.from);
    const to = clampTs(q.to);
    if (from >= to) return [];
    const prefix = streamPrefix(q.patientId, q.stream, q.kind);
    const rows = await this.db.values({ gte: `${prefix}${ts16(from)}`, lt: `${prefix}${ts16(to)}`, reverse: true, limit: q.limit }).all();
    return rows.map((v) => JSON.parse(v) as CatalogBatch);
  }

  async hourlyCounts(q: { patientId: string; from: number; to: number }): Promise<HourlyCount[]> {
    checkQuery(q.patientId);
    const from = clampTs(q.from);
    const to = clampTs(q.to);
    if (from >= to) return [];
    const counts = new Map<string, HourlyCount>();
    for await (const v of this.db.values({ gte: `b!${q.patientId}!${ts16(from)}`, lt: `b!${q.patientId}!${ts16(to)}` })) {
      const b = JSON.parse(v) as CatalogBatch;
      const hour = Math.floor(b.firstTs / HOUR) * HOUR;
      const k = `${hour}!${b.stream}`;
      const c = counts.get(k) ?? counts.set(k, { stream: b.stream as StreamName, hour, batches: 0, readings: 0 }).get(k)!;
      c.batches += 1;
      c.readings += b.count;
    }
    return [...counts.values()].sort((a, b) => a.hour - b.hour || (a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : 0));
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
