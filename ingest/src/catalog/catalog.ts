/**
 * The catalog: which sealed batches exist for a patient, stream and time range, and which chain
 * anchor covers each. It holds metadata only (ids, times, counts, sizes, roots): never a reading,
 * never a key. Object storage stays the truth; the catalog is the index the dashboard and
 * `open --from-ingest` query, so every write is idempotent (a batch uploaded twice is one row).
 *
 * Two implementations pass one shared test suite (ingest/test/catalog/catalog-suite.ts): InfluxDB 1.x in
 * production (influx-catalog.ts) and an embedded store needing no server (embedded-catalog.ts).
 */
import { getAddress } from 'ethers';
import type { AnchorUploadRecord, BatchHeader, BatchKind, StreamName, SummaryKind } from '@vitalgate/protocol';

export interface CatalogBatch {
  /** SHA-256 of the sealed bytes, 64 lowercase hex. */
  id: string;
  patientId: string;
  stream: StreamName;
  deviceId: string;
  epoch: number;
  /** Batch sequence within (patient, stream, device), from the sealed header. */
  seq: number;
  /** Device timestamps (ms since the Unix epoch) of the first and last reading. */
  firstTs: number;
  lastTs: number;
  /** Readings in the batch. */
  count: number;
  /** Size of the sealed batch. */
  bytes: number;
  /** Set for a sealed summary (protocol/src/summary.ts), where `count` is its rows; absent for readings. */
  kind?: SummaryKind;
}

/** The chain transaction whose Merkle root covers a set of batches. */
export interface CatalogAnchor {
  /** Merkle root, 0x + 64 hex. */
  root: string;
  /** Transaction hash, 0x + 64 hex, and the block it was mined in. */
  tx: string;
  block: number;
  /** The gateway account that submitted the root (checksummed 0x address). */
  gateway: string;
}

/** A batch with its anchor, once an anchor record naming it has been cataloged. */
export interface CatalogEntry extends CatalogBatch {
  anchor?: CatalogAnchor;
}

/** Where a batch sits: the anchor record names these so the catalog need not look batches up by id. */
export interface AnchoredBatchRef {
  id: string;
  patientId: string;
  stream: StreamName;
  firstTs: number;
  kind?: SummaryKind;
}

export interface BatchQuery {
  patientId: string;
  /** Only this stream (default: all). */
  stream?: StreamName;
  /** Only batches of this kind (default: readings). Readings and summaries are never listed together. */
  kind?: BatchKind;
  /** firstTs in [from, to), ms. */
  from: number;
  to: number;
  /** The `next` of the previous page. */
  after?: string;
  /** Page size, 1..1000. */
  limit: number;
}

export interface NewestQuery {
  patientId: string;
  stream: StreamName;
  /** Default: readings. */
  kind?: BatchKind;
  /** firstTs in [from, to), ms. */
  from: number;
  to: number;
  /** 1..1000. */
  limit: number;
}

export interface BatchPage {
  /** Ordered by (firstTs, id) ascending. */
  entries: CatalogEntry[];
  /** Opaque cursor for the following page, or null when this page is the last. */
  next: string | null;
}

export interface HourlyCount {
  stream: StreamName;
  /** Start of the hour, ms since the Unix epoch (UTC). */
  hour: number;
  batches: number;
  readings: number;
}

export interface Catalog {
  /** Records a stored batch. Idempotent: the same batch again changes nothing. */
  addBatch(b: CatalogBatch): Promise<void>;
  /** Several at once (a bundle's), as addBatch each would, in as few writes as the backend allows. */
  addBatches(bs: readonly CatalogBatch[]): Promise<void>;
  /** Records that `anchor` covers `batches`. Idempotent. A batch may be cataloged after its anchor. */
  addAnchor(anchor: CatalogAnchor, batches: AnchoredBatchRef[]): Promise<void>;
  /** Batches whose firstTs is in [from, to), in order, a page at a time. */
  batches(q: BatchQuery): Promise<BatchPage>;
  /**
   * The newest `limit` batches of one stream whose firstTs is in [from, to): as `batches` lists
   * them, last first, without anchors. One lookup, where paging forward through the range to its
   * end would read every batch in it (a patients view asks this for every patient and stream).
   */
  newestBatches(q: NewestQuery): Promise<CatalogBatch[]>;
  /** Readings batches and readings per stream per UTC hour, by firstTs in [from, to), ordered by (hour, stream). */
  hourlyCounts(q: { patientId: string; from: number; to: number }): Promise<HourlyCount[]>;
  /** A short description for logs (no credentials). */
  describe(): string;
  close(): Promise<void>;
}

/** The catalog row of a stored batch: its sealed header (authenticated, readable without a key) and size. */
export function catalogBatchOf(patientAccount: string, id: string, h: BatchHeader, bytes: number): CatalogBatch {
  return { id, patientId: patientAccount, stream: h.stream, deviceId: h.deviceId, epoch: h.epoch, seq: h.seq, firstTs: h.firstTs, lastTs: h.lastTs, count: h.count, bytes, ...(h.kind !== 'readings' && { kind: h.kind }) };
}

/** What an anchor record tells the catalog: the anchor, and the batches it covers. */
export function catalogAnchorOf(a: AnchorUploadRecord): { anchor: CatalogAnchor; refs: AnchoredBatchRef[] } {
  return {
    anchor: { root: a.root, tx: a.txHash, block: a.blockNumber, gateway: getAddress(a.gateway) },
    refs: a.batches.map((b) => ({ id: b.id, patientId: getAddress(b.patientAccount), stream: b.stream, firstTs: b.firstTs, ...(b.kind && { kind: b.kind }) })),
  };
}
