/**
 * At start, takes back into the summarizer what a stop or crash left unsummarised: readings after
 * the last minute summary of their (patient, stream, device, epoch), and minute summaries after the
 * last hour summary. Marks come from the index itself, so there is no second state file to keep in
 * step with it. Only the last `windowMs` of sealing (counted back from the newest batch, not from
 * now, so a gateway restarted after days still recovers) is read: a data directory from before
 * summaries existed is not re-read whole at every start.
 *
 * What a crash can still cost: readings that arrived late for a minute already summarised, if the
 * crash came before their piece was sealed. They stay in the readings batches; only the summary
 * misses them.
 */
import { deriveEpochKey, HOUR_MS, openBatch, openSummary, parseBatch } from '@vitalgate/protocol';
import type { BatchRecord } from '../store/batch-index.js';
import type { Keystore } from '../keys/keystore.js';
import { PackStore } from '../store/pack-store.js';
import type { Summarizer } from './summarizer.js';

export interface RecoveryReport {
  /** Batches read back (readings and minute summaries). */
  batches: number;
  /** Batches that could not be read back (their summaries will miss them; the data is intact). */
  unreadable: number;
  ms: number;
}

const markKey = (r: BatchRecord) => `${r.patientId}/${r.stream}/${r.deviceId}/${r.epoch}`;

export async function recoverSummaries(s: Summarizer, loaded: readonly BatchRecord[], store: PackStore, keystore: Keystore, windowMs = 2 * HOUR_MS): Promise<RecoveryReport> {
  const t0 = performance.now();
  const minuteMark = new Map<string, number>();
  const hourMark = new Map<string, number>();
  let newest = 0;
  for (const r of loaded) {
    newest = Math.max(newest, r.durableAt);
    const marks = r.kind === 'summary-1m' ? minuteMark : r.kind === 'summary-1h' ? hourMark : undefined;
    if (marks) marks.set(markKey(r), Math.max(marks.get(markKey(r)) ?? -Infinity, r.lastTs));
  }
  const todo = loaded.filter((r) => r.durableAt >= newest - windowMs && (
    r.kind === undefined ? r.lastTs > (minuteMark.get(markKey(r)) ?? -Infinity)
      : r.kind === 'summary-1m' && r.lastTs > (hourMark.get(markKey(r)) ?? -Infinity)));
  const byPack = new Map<string, BatchRecord[]>();
  for (const r of todo) {
    const l = byPack.get(r.pack);
    if (l) l.push(r);
    else byPack.set(r.pack, [r]);
  }
  let batches = 0;
  let unreadable = 0;
  const now = Date.now();
  for (const [pack, recs] of byPack) {
    let entries: Map<number, Uint8Array>;
    try {
      const split = PackStore.split(await store.readPack(pack));
      if (!split.ok) throw new Error(split.reason);
      entries = new Map(split.value.map((e) => [e.offset, e.bytes]));
    } catch {
      unreadable += recs.length;
      continue;
    }
    for (const r of recs) {
      const bytes = entries.get(r.offset);
      const parsed = bytes && parseBatch(bytes);
      const pms = await keystore.get(r.patientId);
      if (!parsed || !parsed.ok || !pms) {
        unreadable++;
        continue;
      }
      const key = deriveEpochKey(pms, r.patientId, r.stream, r.epoch);
      if (r.kind === undefined) {
        const o = openBatch(key, parsed.value);
        if (o.ok) s.addReadings(r, o.value, now, minuteMark.get(markKey(r)) ?? -Infinity);
        else unreadable++;
      } else {
        const o = openSummary(key, parsed.value);
        if (o.ok) s.addMinuteRows(r, o.value, now, hourMark.get(markKey(r)) ?? -Infinity);
        else unreadable++;
      }
      batches++;
    }
  }
  return { batches, unreadable, ms: Math.round(performance.now() - t0) };
}
