/**
 * What both catalogs check before they write or query, and the page cursor they share: a batch
 * written to one backend is accepted by the other, and a client pages both the same way.
 * The checks throw plain Errors: a caller handing the catalog such input is a bug upstream.
 */
import { isBatchKind, isValidId, STREAM_NAMES } from '@vitalgate/protocol';
import type { CatalogAnchor, CatalogBatch } from './catalog.js';

/** InfluxDB's time is int64 ns, so firstTs must stay below 2262; the embedded catalog keeps the same bound. */
export const MAX_TS = 9_000_000_000_000;
const ID = /^[0-9a-f]{64}$/;

export const clampTs = (ms: number): number => Math.max(0, Math.min(ms, MAX_TS + 1));

export function checkRef(what: string, r: { id: string; patientId: string; stream: string; firstTs: number; kind?: string }): void {
  checkKind(`${what} ${String(r.id).slice(0, 64)}`, r.kind);
  if (typeof r.id !== 'string' || !ID.test(r.id)) throw new Error(`${what}: id must be 64 lowercase hex`);
  // The patient id is part of every key: its character set (no '!') keeps one patient's keys apart.
  if (typeof r.patientId !== 'string' || !isValidId(r.patientId)) throw new Error(`${what} ${r.id}: invalid patient id`);
  if (!(STREAM_NAMES as string[]).includes(r.stream)) throw new Error(`${what} ${r.id}: unknown stream ${JSON.stringify(r.stream)}`);
  if (!Number.isSafeInteger(r.firstTs) || r.firstTs < 0 || r.firstTs > MAX_TS) throw new Error(`${what} ${r.id}: firstTs must be an integer in [0, ${MAX_TS}] ms`);
}

export function checkQuery(patientId: string): void {
  if (typeof patientId !== 'string' || !isValidId(patientId)) throw new Error(`catalog query: invalid patient id ${JSON.stringify(String(patientId).slice(0, 70))}`);
}

const isCount = (n: unknown): boolean => Number.isSafeInteger(n) && (n as number) >= 0;

/** A page size: an integer in 1..1000, as both backends allow. */
export function checkLimit(limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > 1000) throw new Error('limit must be an integer in 1..1000');
}

export function checkBatch(b: CatalogBatch): void {
  checkRef('catalog batch', b);
  if (typeof b.deviceId !== 'string' || !isValidId(b.deviceId)) throw new Error(`catalog batch ${b.id}: invalid device id`);
  for (const k of ['epoch', 'seq', 'lastTs', 'count', 'bytes'] as const) if (!isCount(b[k])) throw new Error(`catalog batch ${b.id}: ${k} must be a non-negative integer`);
  checkKind(`catalog batch ${b.id}`, b.kind);
}

/** A stored kind is a summary's; readings carry none. */
export function checkKind(what: string, kind: unknown): void {
  if (kind !== undefined && (!isBatchKind(kind) || kind === 'readings')) throw new Error(`${what}: kind must be summary-1m or summary-1h when present`);
}

export function checkAnchor(a: CatalogAnchor): void {
  if (typeof a.root !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(a.root)) throw new Error('catalog anchor: root must be 0x + 64 hex');
  if (typeof a.tx !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(a.tx)) throw new Error('catalog anchor: tx must be 0x + 64 hex');
  if (!isCount(a.block)) throw new Error('catalog anchor: block must be a non-negative integer');
  if (typeof a.gateway !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(a.gateway)) throw new Error('catalog anchor: gateway must be a 0x address');
}

/** Cursor: base64url of firstTs (8 bytes, big-endian) and id (32 bytes), the last entry given. */
export function encodeCursor(firstTs: number, id: string): string {
  const buf = Buffer.alloc(40);
  buf.writeBigUInt64BE(BigInt(firstTs));
  buf.write(id, 8, 'hex');
  return buf.toString('base64url');
}

export function decodeCursor(s: string): { firstTs: number; id: string } {
  const buf = /^[A-Za-z0-9_-]{54}$/.test(s) ? Buffer.from(s, 'base64url') : Buffer.alloc(0);
  const firstTs = buf.length === 40 ? Number(buf.readBigUInt64BE()) : -1;
  if (firstTs < 0 || firstTs > MAX_TS) throw new Error('invalid cursor: pass the `next` of a previous page unchanged');
  return { firstTs, id: buf.subarray(8).toString('hex') };
}
