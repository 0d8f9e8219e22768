/**
 * Reads a gateway's store back: every pack is checked against its content address, every batch in
 * it is parsed and opened with the epoch key derived from its patient's master secret. Packs are
 * found by listing the store, not from the index; the index is then used to report batches it
 * lists that no pack holds (lost), so nothing goes missing silently. A filtered read goes the other
 * way: the index names the batches, and each one is checked against its id (its own SHA-256).
 */
import { bytesToHex } from '@noble/hashes/utils.js';
import { sha256 } from '@noble/hashes/sha2.js';
import {
  batchId, deriveEpochKey, openBatch, openSummary, parseBatch, type BatchHeader, type ReadingBody, type SummaryRow,
} from '@vitalgate/protocol';
import { BatchIndex, type BatchRecord } from './batch-index.js';
import { batchMatches, isFiltering, readingsInRange, rowsInRange, type BatchFilter } from './batch-filter.js';
import { dataDirLayout } from './data-dir.js';
import { Keystore } from '../keys/keystore.js';
import { PackStore, readStoredRanges } from './pack-store.js';

export type OpenedBatch =
  /** `bodies` is empty for a summary, whose rows are in `summary`. */
  | { id: string; pack: string; ok: true; header: BatchHeader; bodies: ReadingBody[]; summary?: SummaryRow[] }
  | { id: string; pack: string; ok: false; header?: BatchHeader; reason: string };

/**
 * Every batch in the store, opened. Summaries are derived data and left out unless asked for, so
 * that counting what comes back counts readings. With a `filter`, the batch index picks the
 * batches that can match and only their byte ranges are read (plus any pack the index does not
 * name yet); each opened batch is checked against its index record and trimmed to the time range.
 */
export async function* readStore(dataDir: string, passphrase: string, opts: { summaries?: boolean; filter?: BatchFilter } = {}): AsyncGenerator<OpenedBatch> {
  const dirs = dataDirLayout(dataDir);
  const keystore = await Keystore.open(dirs.keys, passphrase);
  const store = new PackStore(dirs.store);
  const wanted = (h: BatchHeader) => (opts.summaries || h.kind === 'readings') && (!isFiltering(opts.filter) || batchMatches(opts.filter, h));
  if (isFiltering(opts.filter)) {
    yield* readIndexed(dirs.index, keystore, store, opts.filter, opts.summaries === true, wanted);
    return;
  }
  const seen = new Set<string>();
  // A gateway still running writes packs after this listing; their index records are not losses.
  const listedAt = Date.now();
  for (const pack of await store.packs()) yield* scanPack(keystore, store, pack, wanted, seen);
  for (const rec of await BatchIndex.load(dirs.index)) {
    if ((rec.kind && !opts.summaries) || rec.durableAt >= listedAt) continue;
    if (!seen.has(rec.id)) yield { id: rec.id, pack: rec.pack, ok: false, reason: 'listed in the index but in no pack: lost or altered' };
  }
}

/** Every batch of one whole pack that `wanted` keeps; a batch that does not open is always reported. */
async function* scanPack(keystore: Keystore, store: PackStore, pack: string, wanted: (h: BatchHeader) => boolean, seen?: Set<string>): AsyncGenerator<OpenedBatch> {
  let bytes: Uint8Array;
  try {
    bytes = await store.readPack(pack);
  } catch (e) {
    yield { id: '', pack, ok: false, reason: `pack unreadable: ${(e as Error).message}` };
    return;
  }
  if (bytesToHex(sha256(bytes)) !== pack) {
    // Report it, then still try every batch: each one has its own hash and tag.
    yield { id: '', pack, ok: false, reason: 'pack content does not hash to its name: the file was altered' };
  }
  const entries = PackStore.split(bytes);
  if (!entries.ok) {
    yield { id: '', pack, ok: false, reason: entries.reason };
    return;
  }
  for (const e of entries.value) {
    const id = batchId(e.bytes);
    seen?.add(id);
    const opened = await openOne(keystore, pack, id, e.bytes);
    if (!opened.ok || wanted(opened.header)) yield opened;
  }
}

/** The batches the index says can match, read by byte range, pack by pack in index order. */
async function* readIndexed(indexPath: string, keystore: Keystore, store: PackStore, filter: BatchFilter, summaries: boolean, wanted: (h: BatchHeader) => boolean): AsyncGenerator<OpenedBatch> {
  const records = await BatchIndex.load(indexPath);
  const indexed = new Set(records.map((r) => r.pack));
  const chosen = records.filter((r) => !(r.kind && !summaries) && batchMatches(filter, r));
  for await (const { pack, records: recs, slices, error } of readStoredRanges(store, chosen)) {
    if (!slices) {
      const why = error?.code === 'ENOENT' ? 'listed in the index but in no pack: lost or altered' : `pack unreadable: ${error?.message}`;
      for (const r of recs) yield { id: r.id, pack, ok: false, reason: why };
      continue;
    }
    for (const [i, r] of recs.entries()) {
      const bytes = slices[i]!;
      if (bytes.length !== r.bytes || batchId(bytes) !== r.id) {
        yield { id: r.id, pack, ok: false, reason: 'stored bytes do not hash to the batch id: the batch was altered' };
        continue;
      }
      const opened = await openOne(keystore, pack, r.id, bytes);
      if (opened.ok && !sameBatch(opened.header, r)) {
        yield { id: r.id, pack, ok: false, header: opened.header, reason: 'the sealed header does not match its batch index record' };
      } else if (!opened.ok || wanted(opened.header)) yield trimmed(filter, opened);
    }
  }
  // Packs the index does not name yet (a gateway between writing a pack and its index records).
  for (const pack of await store.packs()) {
    if (indexed.has(pack)) continue;
    for await (const b of scanPack(keystore, store, pack, wanted)) yield trimmed(filter, b);
  }
}

function sameBatch(h: BatchHeader, r: BatchRecord): boolean {
  return h.patientId === r.patientId && h.deviceId === r.deviceId && h.stream === r.stream && h.firstTs === r.firstTs && h.lastTs === r.lastTs && h.seq === r.seq;
}

/**
 * Any source of opened batches (the cloud copy, say) narrowed to a filter: batches that cannot
 * match are dropped, the rest trimmed to its time range; failures always pass.
 */
export async function* filterOpened(source: AsyncIterable<OpenedBatch>, filter: BatchFilter): AsyncGenerator<OpenedBatch> {
  for await (const b of source) if (!b.ok || batchMatches(filter, b.header)) yield trimmed(filter, b);
}

/** The readings (or summary rows) of an opened batch that fall in the filter's time range. */
function trimmed(filter: BatchFilter, b: OpenedBatch): OpenedBatch {
  if (!b.ok) return b;
  return b.summary
    ? { ...b, summary: rowsInRange(filter, b.summary) }
    : { ...b, bodies: readingsInRange(filter, b.header.stream, b.bodies) };
}

/** Parses and opens one sealed batch with its patient's key from the keystore. */
export async function openOne(keystore: Keystore, pack: string, id: string, bytes: Uint8Array): Promise<OpenedBatch> {
  const parsed = parseBatch(bytes);
  if (!parsed.ok) return { id, pack, ok: false, reason: parsed.reason };
  const { header } = parsed.value;
  let pms: Uint8Array | undefined;
  try {
    pms = await keystore.get(header.patientId);
  } catch (e) {
    return { id, pack, ok: false, header, reason: (e as Error).message };
  }
  if (!pms) return { id, pack, ok: false, header, reason: `no master secret for patient ${header.patientId} in this keystore` };
  const key = deriveEpochKey(pms, header.patientId, header.stream, header.epoch);
  if (header.kind !== 'readings') {
    const rows = openSummary(key, parsed.value);
    return rows.ok ? { id, pack, ok: true, header, bodies: [], summary: rows.value } : { id, pack, ok: false, header, reason: rows.reason };
  }
  const opened = openBatch(key, parsed.value);
  return opened.ok ? { id, pack, ok: true, header, bodies: opened.value } : { id, pack, ok: false, header, reason: opened.reason };
}
