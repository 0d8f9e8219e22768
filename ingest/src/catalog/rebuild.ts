/**
 * Rebuilds a catalog from object storage, which is the record of truth: every stored batch carries
 * its sealed header (authenticated, readable without a key) and every anchor record its batches.
 * For a catalog that was lost, moved to another backend (embedded → InfluxDB), or that refused a
 * batch while it was down. Writes are idempotent, so a rebuild over a live catalog adds only what
 * it lacks, and an interrupted one can simply run again.
 *
 * An object that is not what its key says (a batch that does not hash to its id, a record that
 * does not parse) is reported and skipped, never cataloged.
 */
import { isAddress } from 'ethers';
import { batchId, parseAnchorRecord, parseBatch } from '@vitalgate/protocol';
import type { ObjectStore } from '../storage/object-store.js';
import { catalogAnchorOf, catalogBatchOf, type Catalog } from './catalog.js';

export interface RebuildReport {
  batches: number;
  anchors: number;
  /** Objects not cataloged, with the reason (at most 100 listed; `skippedCount` has them all). */
  skipped: Array<{ key: string; reason: string }>;
  skippedCount: number;
}

const PAGE = 1000;
/** Gets in flight at once: enough to hide an S3 round trip, few enough for a small box. */
const PARALLEL = 16;
const BATCH_KEY = /^batches\/(0x[0-9a-fA-F]{40})\/([0-9a-f]{64})$/;
const ANCHOR_KEY = /^records\/(0x[0-9a-fA-F]{40})\/anchors\/(0x[0-9a-f]{64})$/;

export async function rebuildCatalog(store: ObjectStore, catalog: Catalog, onProgress?: (r: RebuildReport) => void): Promise<RebuildReport> {
  const report: RebuildReport = { batches: 0, anchors: 0, skipped: [], skippedCount: 0 };
  const skip = (key: string, reason: string): void => {
    report.skippedCount += 1;
    if (report.skipped.length < 100) report.skipped.push({ key, reason });
  };
  const read = async (key: string): Promise<Uint8Array | undefined> => {
    const bytes = await store.get(key);
    if (!bytes) skip(key, 'listed but gone when read');
    return bytes;
  };
  // Batches first: an anchor merges into rows that must exist.
  await eachKey(store, 'batches/', async (key) => {
    const m = BATCH_KEY.exec(key);
    if (!m || !isAddress(m[1]!)) return skip(key, 'not a batch key (batches/{account}/{id})');
    const bytes = await read(key);
    if (!bytes) return;
    if (batchId(bytes) !== m[2]) return skip(key, 'does not hash to its id: storage was altered');
    const parsed = parseBatch(bytes);
    if (!parsed.ok) return skip(key, `not a sealed batch: ${parsed.reason}`);
    await catalog.addBatch(catalogBatchOf(m[1]!, m[2]!, parsed.value.header, bytes.length));
    report.batches += 1;
  }, () => onProgress?.(report));
  await eachKey(store, 'records/', async (key) => {
    const m = ANCHOR_KEY.exec(key);
    if (!m) return; // epoch records are not cataloged
    const bytes = await read(key);
    if (!bytes) return;
    const r = parseAnchorRecord(bytes);
    if (!r.ok) return skip(key, `not an anchor record: ${r.reason}`);
    if (r.value.root !== m[2]) return skip(key, 'its root is not the one in its key');
    const { anchor, refs } = catalogAnchorOf(r.value);
    await catalog.addAnchor(anchor, refs);
    report.anchors += 1;
  }, () => onProgress?.(report));
  return report;
}

async function eachKey(store: ObjectStore, prefix: string, visit: (key: string) => Promise<void>, afterPage: () => void): Promise<void> {
  let after: string | undefined;
  for (;;) {
    const keys = await store.list(prefix, after, PAGE);
    for (let i = 0; i < keys.length; i += PARALLEL) await Promise.all(keys.slice(i, i + PARALLEL).map(visit));
    afterPage();
    if (keys.length < PAGE) return;
    after = keys.at(-1);
  }
}
