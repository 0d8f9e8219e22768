/**
 * Reads a gateway's store back: every pack is checked against its content address, every batch in
 * it is parsed and opened with the epoch key derived from its patient's master secret. Packs are
 * found by listing the store, not from the index; the index is then used to report batches it
 * lists that no pack holds (lost), so nothing goes missing silently.
 */
import { bytesToHex } from '@noble/hashes/utils.js';
import { sha256 } from '@noble/hashes/sha2.js';
import {
  batchId, deriveEpochKey, openBatch, openSummary, parseBatch, type BatchHeader, type ReadingBody, type SummaryRow,
} from '@vitalgate/protocol';
import { BatchIndex } from './batch-index.js';
import { dataDirLayout } from './data-dir.js';
import { Keystore } from '../keys/keystore.js';
import { PackStore } from './pack-store.js';

export type OpenedBatch =
  /** `bodies` is empty for a summary, whose rows are in `summary`. */
  | { id: string; pack: string; ok: true; header: BatchHeader; bodies: ReadingBody[]; summary?: SummaryRow[] }
  | { id: string; pack: string; ok: false; header?: BatchHeader; reason: string };

/**
 * Every batch in the store, opened. Summaries are derived data and left out unless asked for, so
 * that counting what comes back counts readings.
 */
export async function* readStore(dataDir: string, passphrase: string, opts: { summaries?: boolean } = {}): AsyncGenerator<OpenedBatch> {
  const dirs = dataDirLayout(dataDir);
  const keystore = await Keystore.open(dirs.keys, passphrase);
  const store = new PackStore(dirs.store);
  const seen = new Set<string>();
  // A gateway still running writes packs after this listing; their index records are not losses.
  const listedAt = Date.now();
  for (const pack of await store.packs()) {
    let bytes: Uint8Array;
    try {
      bytes = await store.readPack(pack);
    } catch (e) {
      yield { id: '', pack, ok: false, reason: `pack unreadable: ${(e as Error).message}` };
      continue;
    }
    if (bytesToHex(sha256(bytes)) !== pack) {
      // Report it, then still try every batch: each one has its own hash and tag.
      yield { id: '', pack, ok: false, reason: 'pack content does not hash to its name: the file was altered' };
    }
    const entries = PackStore.split(bytes);
    if (!entries.ok) {
      yield { id: '', pack, ok: false, reason: entries.reason };
      continue;
    }
    for (const e of entries.value) {
      const id = batchId(e.bytes);
      seen.add(id);
      const opened = await openOne(keystore, pack, id, e.bytes);
      // A summary that does not open is still reported: skipped are only the ones that do.
      if (!opts.summaries && opened.ok && opened.header.kind !== 'readings') continue;
      yield opened;
    }
  }
  for (const rec of await BatchIndex.load(dirs.index)) {
    if ((rec.kind && !opts.summaries) || rec.durableAt >= listedAt) continue;
    if (!seen.has(rec.id)) yield { id: rec.id, pack: rec.pack, ok: false, reason: 'listed in the index but in no pack: lost or altered' };
  }
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
