/**
 * Batch bundle, format v1: many sealed batches in one upload (POST /v1/batches), so that a gateway
 * draining a backlog pays one request, one signature and one signature check for up to
 * MAX_BUNDLE_BATCHES batches instead of one each. Every integer is big-endian.
 *
 *   off  size  field
 *   0    4     magic "VGBB"
 *   4    1     format version = 1
 *   5    4     M = manifest length (1..MAX_MANIFEST_BYTES)
 *   9    M     manifest: UTF-8 JSON {"batches": [item, …]}, one item per batch, in body order:
 *                {"id", "patientAccount", "patient", "stream", "device", "epoch", "seq",
 *                 "firstTs", "lastTs", "count", "bytes"}
 *              the same metadata a single PUT /v1/batches/{id} carries in its query, plus its length
 *   9+M  …     the sealed batches, back to back, each `bytes` long; nothing after the last
 *
 * The parser never throws and checks only the framing; whether each batch is what its item says is
 * ingest's business, per item.
 */
import { fail, ok, type Result } from './reading.js';

export const BUNDLE_MAGIC = new Uint8Array([0x56, 0x47, 0x42, 0x42]); // "VGBB"
export const BUNDLE_VERSION = 1;
export const MAX_BUNDLE_BATCHES = 256;
export const MAX_MANIFEST_BYTES = 256 * 1024;

export interface BundleItem {
  id: string;
  patientAccount: string;
  patient: string;
  stream: string;
  device: string;
  epoch: number;
  seq: number;
  firstTs: number;
  lastTs: number;
  count: number;
  bytes: number;
}

export interface ParsedBundle {
  items: BundleItem[];
  /** The sealed batches, in manifest order (views into the input). */
  bodies: Uint8Array[];
}

export function encodeBundle(batches: ReadonlyArray<{ item: Omit<BundleItem, 'bytes'>; bytes: Uint8Array }>): Uint8Array {
  if (batches.length === 0 || batches.length > MAX_BUNDLE_BATCHES) throw new RangeError(`a bundle holds 1..${MAX_BUNDLE_BATCHES} batches, not ${batches.length}`);
  const manifest = new TextEncoder().encode(JSON.stringify({ batches: batches.map((b) => ({ ...b.item, bytes: b.bytes.length })) }));
  if (manifest.length > MAX_MANIFEST_BYTES) throw new RangeError('bundle manifest too large');
  const total = 9 + manifest.length + batches.reduce((n, b) => n + b.bytes.length, 0);
  const out = new Uint8Array(total);
  out.set(BUNDLE_MAGIC, 0);
  out[4] = BUNDLE_VERSION;
  new DataView(out.buffer).setUint32(5, manifest.length, false);
  out.set(manifest, 9);
  let o = 9 + manifest.length;
  for (const b of batches) {
    out.set(b.bytes, o);
    o += b.bytes.length;
  }
  return out;
}

const isUint = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isStr = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 200;

export function parseBundle(bytes: Uint8Array): Result<ParsedBundle> {
  if (!(bytes instanceof Uint8Array) || bytes.length < 9) return fail('a bundle starts with "VGBB", a version and a manifest length');
  for (let i = 0; i < 4; i++) if (bytes[i] !== BUNDLE_MAGIC[i]) return fail('not a batch bundle (magic is not "VGBB")');
  if (bytes[4] !== BUNDLE_VERSION) return fail(`bundle format version ${bytes[4]} is not supported (this reader knows ${BUNDLE_VERSION})`);
  const m = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(5, false);
  if (m < 1 || m > MAX_MANIFEST_BYTES || 9 + m > bytes.length) return fail(`manifest length ${m} does not fit the bundle`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(9, 9 + m)));
  } catch {
    return fail('the manifest is not UTF-8 JSON');
  }
  const list = (parsed as { batches?: unknown } | null)?.batches;
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_BUNDLE_BATCHES) return fail(`the manifest must list 1..${MAX_BUNDLE_BATCHES} batches`);
  const items: BundleItem[] = [];
  const bodies: Uint8Array[] = [];
  let o = 9 + m;
  for (const [i, raw] of list.entries()) {
    const x = raw as Record<string, unknown>;
    if (typeof x !== 'object' || x === null) return fail(`manifest item ${i} is not an object`);
    for (const k of ['id', 'patientAccount', 'patient', 'stream', 'device'] as const) if (!isStr(x[k])) return fail(`manifest item ${i}: ${k} must be a string`);
    for (const k of ['epoch', 'seq', 'firstTs', 'lastTs', 'count', 'bytes'] as const) if (!isUint(x[k])) return fail(`manifest item ${i}: ${k} must be a non-negative integer`);
    const len = x.bytes as number;
    if (len < 1 || o + len > bytes.length) return fail(`manifest item ${i}: ${len} bytes do not fit the bundle`);
    items.push({
      id: x.id as string, patientAccount: x.patientAccount as string, patient: x.patient as string, stream: x.stream as string, device: x.device as string,
      epoch: x.epoch as number, seq: x.seq as number, firstTs: x.firstTs as number, lastTs: x.lastTs as number, count: x.count as number, bytes: len,
    });
    bodies.push(bytes.subarray(o, o + len));
    o += len;
  }
  if (o !== bytes.length) return fail(`${bytes.length - o} bytes after the last batch the manifest lists`);
  return ok({ items, bodies });
}
