/**
 * The metadata records a gateway uploads beside its sealed batches: epoch records (which span of
 * time each epoch number covers) and anchor records (which batches a mined Merkle root covers, and
 * where it was mined). They are JSON, UTF-8, one object, and carry no key and no reading: an epoch
 * key is derived from the patient's secret and never leaves the gateway.
 *
 * Epoch record, uploaded as PUT /v1/epochs/{epoch}:
 *   {"v":1,"gateway":"0x…","epoch":7,"startedAt":1767225600000,"reason":"timer"}
 *
 * Anchor record, uploaded as PUT /v1/anchors/{root}:
 *   {"v":1,"gateway":"0x…","root":"0x…64 hex","txHash":"0x…64 hex","blockNumber":12,
 *    "blockTimestamp":1767225630,"batches":[{"id":"…64 hex","patientAccount":"0x…","stream":"ecg","firstTs":1767225600123}, …]}
 *
 * `batches` lists every batch id under the root (the root is the Merkle root of exactly these ids),
 * with where each sits in the cloud: the patient's chain account (ingest keys storage by it) and
 * the batch's stream and first timestamp. The parsers never throw: any bytes give a Result.
 */
import { fail, ok, type Result } from './reading.js';
import { isStreamName, type StreamName } from './streams.js';
import { isBatchKind } from './sealed-batch.js';
import type { SummaryKind } from './summary.js';

export const CLOUD_RECORD_VERSION = 1;
/** An anchor covers at most this many batches (the gateway anchors every 30 s; this is far above). */
export const MAX_ANCHOR_BATCHES = 100_000;

export interface EpochUploadRecord {
  v: 1;
  gateway: string;
  epoch: number;
  startedAt: number;
  reason: 'start' | 'timer' | 'demand';
}

export interface AnchoredBatch {
  id: string;
  patientAccount: string;
  stream: StreamName;
  firstTs: number;
  /** A summary's kind (summary.ts); absent for readings, as in records written before summaries. */
  kind?: SummaryKind;
}

export interface AnchorUploadRecord {
  v: 1;
  gateway: string;
  root: string;
  txHash: string;
  blockNumber: number;
  blockTimestamp: number;
  batches: AnchoredBatch[];
}

const ADDRESS_RE = /^0x[0-9a-fA-F]{40}$/;
const HASH_RE = /^0x[0-9a-f]{64}$/;
const ID_RE = /^[0-9a-f]{64}$/;
const isUint = (v: unknown, max = Number.MAX_SAFE_INTEGER): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;

function parseJson(bytes: Uint8Array): Result<Record<string, unknown>> {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return fail('not UTF-8 JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail('not a JSON object');
  const o = v as Record<string, unknown>;
  if (o.v !== CLOUD_RECORD_VERSION) return fail(`v must be ${CLOUD_RECORD_VERSION}`);
  if (typeof o.gateway !== 'string' || !ADDRESS_RE.test(o.gateway)) return fail('gateway must be a 0x account');
  return ok(o);
}

export function parseEpochRecord(bytes: Uint8Array): Result<EpochUploadRecord> {
  const p = parseJson(bytes);
  if (!p.ok) return p;
  const o = p.value;
  if (!isUint(o.epoch, 0xffffffff)) return fail('epoch must be a u32');
  if (!isUint(o.startedAt)) return fail('startedAt must be ms since the Unix epoch');
  if (o.reason !== 'start' && o.reason !== 'timer' && o.reason !== 'demand') return fail('reason must be start, timer or demand');
  return ok({ v: 1, gateway: o.gateway as string, epoch: o.epoch, startedAt: o.startedAt, reason: o.reason });
}

export function parseAnchorRecord(bytes: Uint8Array): Result<AnchorUploadRecord> {
  const p = parseJson(bytes);
  if (!p.ok) return p;
  const o = p.value;
  if (typeof o.root !== 'string' || !HASH_RE.test(o.root)) return fail('root must be 0x and 64 lowercase hex');
  if (typeof o.txHash !== 'string' || !HASH_RE.test(o.txHash)) return fail('txHash must be 0x and 64 lowercase hex');
  if (!isUint(o.blockNumber)) return fail('blockNumber must be a non-negative integer');
  if (!isUint(o.blockTimestamp)) return fail('blockTimestamp must be a non-negative integer');
  if (!Array.isArray(o.batches) || o.batches.length === 0 || o.batches.length > MAX_ANCHOR_BATCHES) return fail(`batches must list 1..${MAX_ANCHOR_BATCHES} batches`);
  const batches: AnchoredBatch[] = [];
  for (const [i, b] of (o.batches as unknown[]).entries()) {
    const e = b as Partial<Record<keyof AnchoredBatch, unknown>> | null;
    if (typeof e !== 'object' || e === null) return fail(`batches[${i}] is not an object`);
    if (typeof e.id !== 'string' || !ID_RE.test(e.id)) return fail(`batches[${i}].id must be 64 lowercase hex`);
    if (typeof e.patientAccount !== 'string' || !ADDRESS_RE.test(e.patientAccount)) return fail(`batches[${i}].patientAccount must be a 0x account`);
    if (typeof e.stream !== 'string' || !isStreamName(e.stream)) return fail(`batches[${i}].stream is not a stream name`);
    if (!isUint(e.firstTs)) return fail(`batches[${i}].firstTs must be ms since the Unix epoch`);
    if (e.kind !== undefined && (!isBatchKind(e.kind) || e.kind === 'readings')) return fail(`batches[${i}].kind must be summary-1m or summary-1h when present`);
    batches.push({ id: e.id, patientAccount: e.patientAccount, stream: e.stream, firstTs: e.firstTs, ...(e.kind !== undefined && { kind: e.kind as SummaryKind }) });
  }
  return ok({ v: 1, gateway: o.gateway as string, root: o.root, txHash: o.txHash, blockNumber: o.blockNumber, blockTimestamp: o.blockTimestamp, batches });
}

/** The canonical bytes of a record (key order as in the types), so an upload retried is byte-identical. */
export function encodeCloudRecord(r: EpochUploadRecord | AnchorUploadRecord): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(r));
}
