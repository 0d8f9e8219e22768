/**
 * Batches that are in the store but not in the index. The commit point of a batch is its index
 * record, so a batch without one was never acknowledged: the gateway stopped between writing the
 * pack and committing the records, or the index lost its torn last record. Such batches are
 * opened (to learn their reading numbers) and indexed again, so that the copies the broker
 * redelivers are recognised as duplicates instead of being sealed a second time.
 *
 * Only packs the index does not name, and the pack of its last record (the one a torn index write
 * can have left half listed), are read: a restart does not re-read the whole store.
 */
import type { Logger } from 'pino';
import { batchId, deriveEpochKey, openBatch, openSummary, parseBatch } from '@vitalgate/protocol';
import type { BatchRecord } from './batch-index.js';
import type { Keystore } from '../keys/keystore.js';
import { PackStore } from './pack-store.js';
import { seqRanges } from '../batching/seq-window.js';

export async function adoptUncommitted(store: PackStore, keystore: Keystore, loaded: readonly BatchRecord[], log?: Logger): Promise<BatchRecord[]> {
  const indexed = new Set(loaded.map((r) => r.id));
  const known = new Set(loaded.map((r) => r.pack));
  const lastPack = loaded.at(-1)?.pack;
  const adopted: BatchRecord[] = [];
  for (const pack of await store.packs()) {
    if (known.has(pack) && pack !== lastPack) continue;
    const split = PackStore.split(await store.readPack(pack));
    if (!split.ok) {
      log?.error({ pack, reason: split.reason }, 'uncommitted pack cannot be read; its readings will be taken again from the broker');
      continue;
    }
    for (const e of split.value) {
      const id = batchId(e.bytes);
      if (indexed.has(id)) continue;
      const parsed = parseBatch(e.bytes);
      if (!parsed.ok) continue;
      const h = parsed.value.header;
      const pms = await keystore.get(h.patientId);
      if (!pms) continue;
      const key = deriveEpochKey(pms, h.patientId, h.stream, h.epoch);
      const base = {
        id, patientId: h.patientId, deviceId: h.deviceId, stream: h.stream, epoch: h.epoch, seq: h.seq,
        firstTs: h.firstTs, lastTs: h.lastTs, count: h.count, bytes: e.bytes.length, pack, offset: e.offset, durableAt: Date.now(),
      };
      if (h.kind !== 'readings') {
        if (!openSummary(key, parsed.value).ok) continue;
        indexed.add(id);
        adopted.push({ ...base, kind: h.kind });
        continue;
      }
      const opened = openBatch(key, parsed.value);
      if (!opened.ok) continue;
      indexed.add(id);
      adopted.push({ ...base, readingSeqs: seqRanges(opened.value) });
    }
  }
  return adopted;
}
