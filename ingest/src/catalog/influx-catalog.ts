/**
 * The catalog in InfluxDB 1.x (InfluxQL and the 1.x HTTP API, through the `influx` package).
 *
 * Schema: measurement `batch` (readings; summaries in `summary_1m` and `summary_1h`, the same
 * layout, so that neither kind's queries wade through the other), tags `patient` and `stream` only (one series per patient and stream,
 * so cardinality grows with patients, never with batches), everything else a field:
 *   id, device (strings); epoch, seq, lastTs, count, bytes (integers)   written by addBatch
 *   root, tx, gateway, anchorFor (strings); block (integer)              written by addAnchor
 * The point's time is derived from the batch alone: firstTs (ms) × 10⁶ + a sub-millisecond offset
 * taken from the id (pointTime). InfluxDB identifies a point by series and time and merges the field
 * sets of writes to the same point, so the same batch written twice is one point, and an anchor
 * written before or after its batch lands on the same point as the batch's own fields.
 *
 * The offset is the id's first 32 bits scaled into [0, 10⁶), so it grows with the id: ordering
 * points by time is ordering batches by (firstTs, id), except among points with the very same time,
 * which only batches of different streams can share and which are put in id order here.
 *
 * Collisions: two different batches of one patient and stream with the same firstTs (to the
 * millisecond) get the same time with probability 10⁻⁶, and the second would overwrite the first.
 * addBatch looks before it writes and refuses with CatalogCollisionError instead (the check is one
 * indexed read of a single series at a single time). Two such batches arriving at the same moment
 * could both pass the check; that needs the 10⁻⁶ coincidence and a race, and is accepted.
 * An anchor carries `anchorFor` (the id it names), so even then it is never shown on another batch.
 */
import { InfluxDB, FieldType, type IPoint, type IResults, type ISchemaOptions, type ISingleHostConfig } from 'influx';
import { STREAM_NAMES, type BatchKind, type StreamName } from '@vitalgate/protocol';
import type { AnchoredBatchRef, BatchPage, BatchQuery, Catalog, CatalogAnchor, CatalogBatch, CatalogEntry, HourlyCount, NewestQuery } from './catalog.js';
import { checkAnchor, checkBatch, checkLimit, checkQuery, checkRef, clampTs, decodeCursor, encodeCursor } from './catalog-input.js';

export interface InfluxConnectionOptions {
  /** http(s)://[user:password@]host:port[/database]. Or give host, port, … below. */
  url?: string;
  host?: string;
  port?: number;
  protocol?: 'http' | 'https';
  username?: string;
  password?: string;
  /** Overrides the database in `url`. */
  database?: string;
  /** Per request (default 10 s). */
  requestTimeoutMs?: number;
}

export interface InfluxCatalogOptions extends InfluxConnectionOptions {
  /** CREATE DATABASE (a no-op when it exists; its default retention keeps data forever). Default true. */
  createDatabase?: boolean;
}

/** Where an InfluxDB is, for messages: never the password. */
export interface InfluxConnection {
  influx: InfluxDB;
  database: string;
  /** e.g. "http://127.0.0.1:8086 database vitalgate" */
  where: string;
  /** Only to scrub it from error messages. */
  password?: string;
}

/**
 * Connects (lazily: no request is made here). The pool never sidelines the host after a failure:
 * with a single InfluxDB, a back-off window would only turn "connection refused, naming the host"
 * into "No host available" for seconds after InfluxDB is back.
 */
export function influxConnection(o: InfluxConnectionOptions, defaultDatabase: string, schema: ISchemaOptions[] = []): InfluxConnection {
  let host = o.host ?? '127.0.0.1';
  let port = o.port ?? 8086;
  let protocol: 'http' | 'https' = o.protocol ?? 'http';
  let username = o.username;
  let password = o.password;
  let database = o.database;
  if (o.url !== undefined) {
    let u: URL;
    try {
      u = new URL(o.url);
    } catch {
      throw new Error('InfluxDB url is not a URL (expected http://[user:password@]host:8086[/database])');
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`InfluxDB url must be http or https, not ${u.protocol}`);
    protocol = u.protocol === 'https:' ? 'https' : 'http';
    host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    port = u.port ? Number(u.port) : protocol === 'https' ? 443 : 8086;
    if (u.username) username ??= decodeURIComponent(u.username);
    if (u.password) password ??= decodeURIComponent(u.password);
    const path = decodeURIComponent(u.pathname.replace(/^\/+|\/+$/g, ''));
    if (path) database ??= path;
  }
  database ??= defaultDatabase;
  const neverSideline = { getDelay: () => 0, next() { return this; }, reset() { return this; } };
  const config: ISingleHostConfig = {
    host, port, protocol, database,
    ...(username !== undefined && { username, password: password ?? '' }),
    pool: { maxRetries: 1, requestTimeout: o.requestTimeoutMs ?? 10_000, backoff: neverSideline },
    schema,
  };
  const where = `${protocol}://${host.includes(':') ? `[${host}]` : host}:${port} database ${database}`;
  return { influx: new InfluxDB(config), database, where, ...(password && { password }) };
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);

export class InfluxError extends Error {
  /** True when InfluxDB could not be reached at all (worth retrying), false when it answered with a refusal. */
  constructor(message: string, readonly unreachable: boolean) {
    super(message);
    this.name = 'InfluxError';
  }
}

/**
 * An error naming the InfluxDB and what was being done. The `influx` package sends credentials in
 * an Authorization header, never in a URL, so its messages hold none (the password is scrubbed
 * anyway). Its error is deliberately not kept as `cause`: its RequestError carries the request,
 * Authorization header included, and a logger serialising causes would print it.
 */
export function influxError(c: InfluxConnection, doing: string, e: unknown): InfluxError {
  const err = e as Error & { code?: string };
  let detail = String(err?.message ?? e).split('\n')[0]!.slice(0, 300);
  if (c.password) detail = detail.split(c.password).join('***');
  const unreachable = (err?.code !== undefined && NETWORK_CODES.has(err.code)) || err?.constructor?.name === 'ServiceNotAvailableError' || /timed out|No host available|socket hang up/i.test(detail);
  return new InfluxError(unreachable
    ? `InfluxDB at ${c.where} is unreachable while ${doing}: ${detail}`
    : `InfluxDB at ${c.where} refused ${doing}: ${detail}`, unreachable);
}

const MEASUREMENT = 'batch';
const measurementOf = (kind: BatchKind | undefined): string => (kind === 'summary-1m' ? 'summary_1m' : kind === 'summary-1h' ? 'summary_1h' : MEASUREMENT);
const FIELDS = {
  id: FieldType.STRING, device: FieldType.STRING, epoch: FieldType.INTEGER, seq: FieldType.INTEGER,
  lastTs: FieldType.INTEGER, count: FieldType.INTEGER, bytes: FieldType.INTEGER,
  root: FieldType.STRING, tx: FieldType.STRING, block: FieldType.INTEGER, gateway: FieldType.STRING, anchorFor: FieldType.STRING,
};
const SELECTED = ['stream', 'id', 'device', 'epoch', 'seq', 'lastTs', 'count', 'bytes', 'root', 'tx', 'block', 'gateway', 'anchorFor'].map((f) => `"${f}"`).join(', ');

/** Points that can share one time: one per stream (same patient and stream cannot, see above). */
const MAX_TIES = STREAM_NAMES.length;

/** Time of a batch's point, ns: firstTs ms plus the id's first 32 bits scaled into [0, 10⁶) ns. */
export function pointTime(firstTs: number, id: string): bigint {
  const offset = Math.floor((parseInt(id.slice(0, 8), 16) * 1_000_000) / 2 ** 32);
  return BigInt(firstTs) * 1_000_000n + BigInt(offset);
}

export class CatalogCollisionError extends Error {
  constructor(b: CatalogBatch, other: string) {
    super(`catalog collision: batch ${b.id} and batch ${other} (patient ${b.patientId}, stream ${b.stream}, firstTs ${b.firstTs}) map to the same InfluxDB point; the chance is about one in a million for two batches with the same first millisecond. ${b.id} was not cataloged (it is stored); the catalog schema's point time needs widening`);
    this.name = 'CatalogCollisionError';
  }
}

const before = (a: { firstTs: number; id: string }, b: { firstTs: number; id: string }): boolean => a.firstTs < b.firstTs || (a.firstTs === b.firstTs && a.id < b.id);

type Row = Record<string, unknown> & { time: { getNanoTime(): string } };

function entryOf(patientId: string, r: Row, kind: BatchKind | undefined): CatalogEntry & { ns: bigint } {
  const ns = BigInt(r.time.getNanoTime());
  const e: CatalogEntry & { ns: bigint } = {
    ns,
    id: r.id as string, patientId, stream: r.stream as StreamName, deviceId: r.device as string,
    epoch: r.epoch as number, seq: r.seq as number, firstTs: Number(ns / 1_000_000n), lastTs: r.lastTs as number,
    count: r.count as number, bytes: r.bytes as number, ...(kind && kind !== 'readings' && { kind }),
  };
  if (r.anchorFor === r.id && typeof r.root === 'string') e.anchor = { root: r.root, tx: r.tx as string, block: r.block as number, gateway: r.gateway as string };
  return e;
}

export class InfluxCatalog implements Catalog {
  private constructor(private readonly c: InfluxConnection) {}

  /** Checks that InfluxDB answers, and creates the database unless told not to. */
  static async connect(o: InfluxCatalogOptions = {}): Promise<InfluxCatalog> {
    // The schema makes the `influx` package write integers as integers and refuse any other tag.
    const c = influxConnection(o, 'vitalgate', [MEASUREMENT, 'summary_1m', 'summary_1h'].map((measurement) => ({ measurement, tags: ['patient', 'stream'], fields: FIELDS })));
    const cat = new InfluxCatalog(c);
    if (o.createDatabase ?? true) await cat.call('creating the database', () => c.influx.createDatabase(c.database));
    else await cat.call('checking the database', () => c.influx.query('SHOW MEASUREMENTS LIMIT 1', { database: c.database }));
    return cat;
  }

  describe(): string {
    return `InfluxDB catalog at ${this.c.where}`;
  }

  private async call<T>(doing: string, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      throw influxError(this.c, doing, e);
    }
  }

  private query(doing: string, q: string, placeholders: Record<string, string>): Promise<IResults<Row>> {
    return this.call(doing, () => this.c.influx.query<Row>(q, { placeholders, database: this.c.database }));
  }

  async addBatch(b: CatalogBatch): Promise<void> {
    checkBatch(b);
    const ns = pointTime(b.firstTs, b.id);
    const there = await this.query('checking a batch point', `SELECT "id" FROM "${measurementOf(b.kind)}" WHERE "patient" = $patient AND "stream" = $stream AND time = ${ns}`, { patient: b.patientId, stream: b.stream });
    const other = there.find((r) => typeof r.id === 'string');
    if (other?.id === b.id) return;
    if (other) throw new CatalogCollisionError(b, other.id as string);
    await this.write('writing a batch', [{
      measurement: measurementOf(b.kind),
      tags: { patient: b.patientId, stream: b.stream },
      fields: { id: b.id, device: b.deviceId, epoch: b.epoch, seq: b.seq, lastTs: b.lastTs, count: b.count, bytes: b.bytes },
      timestamp: ns.toString(),
    }]);
  }

  /** Each batch needs its own collision check (one query); they run side by side. */
  async addBatches(bs: readonly CatalogBatch[]): Promise<void> {
    let next = 0;
    await Promise.all(Array.from({ length: Math.min(8, bs.length) }, async () => {
      while (next < bs.length) await this.addBatch(bs[next++]!);
    }));
  }

  async addAnchor(a: CatalogAnchor, batches: AnchoredBatchRef[]): Promise<void> {
    checkAnchor(a);
    for (const r of batches) checkRef('anchored batch', r);
    const points: IPoint[] = batches.map((r) => ({
      measurement: measurementOf(r.kind),
      tags: { patient: r.patientId, stream: r.stream },
      fields: { root: a.root, tx: a.tx, block: a.block, gateway: a.gateway, anchorFor: r.id },
      timestamp: pointTime(r.firstTs, r.id).toString(),
    }));
    for (let i = 0; i < points.length; i += 5000) await this.write('writing an anchor', points.slice(i, i + 5000));
  }

  private write(doing: string, points: IPoint[]): Promise<void> {
    return this.call(doing, () => this.c.influx.writePoints(points, { database: this.c.database, precision: 'n' }));
  }

  async batches(q: BatchQuery): Promise<BatchPage> {
    checkQuery(q.patientId);
    checkLimit(q.limit);
    const cursor = q.after === undefined ? undefined : decodeCursor(q.after);
    const from = clampTs(q.from);
    const to = clampTs(q.to);
    let lo = BigInt(from) * 1_000_000n;
    // The cursor's own time again: other streams' points at that time may come after it by id.
    if (cursor) { const c = pointTime(cursor.firstTs, cursor.id); if (c > lo) lo = c; }
    const hi = BigInt(to) * 1_000_000n;
    if (lo >= hi) return { entries: [], next: null };
    // Enough rows that, after dropping those at or before the cursor (at most MAX_TIES at its time)
    // and a last time-group LIMIT may have cut short (at most MAX_TIES), more than `limit` remain.
    const fetch = q.limit + 2 * MAX_TIES + 1;
    const rows = await this.query('listing batches',
      `SELECT ${SELECTED} FROM "${measurementOf(q.kind)}" WHERE "patient" = $patient${q.stream ? ' AND "stream" = $stream' : ''} AND "id" <> '' AND time >= ${lo} AND time < ${hi} ORDER BY time ASC LIMIT ${fetch}`,
      { patient: q.patientId, ...(q.stream && { stream: q.stream }) });
    let all = rows.map((r) => entryOf(q.patientId, r, q.kind));
    if (rows.length === fetch) {
      const lastNs = all[all.length - 1]!.ns;
      all = all.filter((e) => e.ns !== lastNs);
    }
    all.sort((a, b) => (a.ns < b.ns ? -1 : a.ns > b.ns ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    if (cursor) all = all.filter((e) => before(cursor, e));
    const page = all.slice(0, q.limit).map(({ ns: _, ...e }) => e as CatalogEntry);
    const more = all.length > q.limit;
    const last = page[page.length - 1];
    return { entries: page, next: more && last ? encodeCursor(last.firstTs, last.id) : null };
  }

  async newestBatches(q: NewestQuery): Promise<CatalogBatch[]> {
    checkQuery(q.patientId);
    checkLimit(q.limit);
    const lo = BigInt(clampTs(q.from)) * 1_000_000n;
    const hi = BigInt(clampTs(q.to)) * 1_000_000n;
    if (lo >= hi) return [];
    // One stream's points never share a time (see pointTime), so LIMIT cuts no tie.
    const rows = await this.query('listing the newest batches',
      `SELECT ${SELECTED} FROM "${measurementOf(q.kind)}" WHERE "patient" = $patient AND "stream" = $stream AND "id" <> '' AND time >= ${lo} AND time < ${hi} ORDER BY time DESC LIMIT ${q.limit}`,
      { patient: q.patientId, stream: q.stream });
    return rows.map((r) => {
      const { ns: _, anchor: __, ...b } = entryOf(q.patientId, r, q.kind);
      return b;
    });
  }

  async hourlyCounts(q: { patientId: string; from: number; to: number }): Promise<HourlyCount[]> {
    checkQuery(q.patientId);
    const from = clampTs(q.from);
    const to = clampTs(q.to);
    if (from >= to) return [];
    const rows = await this.query('counting batches per hour',
      `SELECT count("id") AS "batches", sum("count") AS "readings" FROM "${MEASUREMENT}" WHERE "patient" = $patient AND time >= ${BigInt(from) * 1_000_000n} AND time < ${BigInt(to) * 1_000_000n} GROUP BY time(1h), "stream" fill(none)`,
      { patient: q.patientId });
    return rows
      .filter((r) => typeof r.batches === 'number' && (r.batches as number) > 0)
      .map((r) => ({ stream: r.stream as StreamName, hour: Number(BigInt(r.time.getNanoTime()) / 1_000_000n), batches: r.batches as number, readings: (r.readings as number | null) ?? 0 }))
      .sort((a, b) => a.hour - b.hour || (a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : 0));
  }

  async close(): Promise<void> {
    // The `influx` package holds no connections between requests: nothing to release.
  }
}
