/**
 * Sealing: a closed batch of readings, or a due summary, becomes a sealed batch under its epoch
 * key (XChaCha20-Poly1305, the whole header as associated data; @vitalgate/protocol's format),
 * with the next sequence number of its (patient, stream, device[, kind]) and the index record it
 * will be stored under. What it was sealed from rides along for the summaries.
 */
import { sealBatch, sealSummary, type ReadingBody } from '@vitalgate/protocol';
import type { PendingBatch } from '../batching/batcher.js';
import { seqRanges } from '../batching/seq-window.js';
import type { DueSummary } from '../summaries/summarizer.js';
import { seqKey, summarySeqKey, type BatchRecord } from '../store/batch-index.js';

/** Sealed and waiting to be stored and indexed; what it was sealed from rides along for the summaries. */
export interface Unstored {
  rec: Omit<BatchRecord, 'durableAt' | 'pack' | 'offset'>;
  bytes: Uint8Array;
  firstIntake: number;
  bodies?: ReadingBody[];
  summary?: DueSummary;
}

/** The last sequence number sealed per seqKey/summarySeqKey (the index's `lastSeq`). */
export type LastSeqs = Map<string, number>;

const nextSeq = (lastSeq: LastSeqs, k: string): number => {
  const seq = (lastSeq.get(k) ?? -1) + 1;
  lastSeq.set(k, seq);
  return seq;
};

/** Seals a batch of readings; `keepBodies` keeps them on the result for the summaries. */
export function sealReadings(b: PendingBatch, key: Uint8Array, epoch: number, lastSeq: LastSeqs, keepBodies: boolean): Unstored {
  const seq = nextSeq(lastSeq, seqKey(b.patientId, b.stream, b.deviceId));
  const s = sealBatch(key, { stream: b.stream, patientId: b.patientId, deviceId: b.deviceId, epoch, seq, bodies: b.bodies, asReceived: b.asReceived });
  return {
    rec: { id: s.id, patientId: b.patientId, deviceId: b.deviceId, stream: b.stream, epoch, seq, firstTs: s.header.firstTs, lastTs: s.header.lastTs, count: s.header.count, bytes: s.bytes.length, readingSeqs: seqRanges(b.bodies) },
    bytes: s.bytes,
    firstIntake: b.firstIntake,
    ...(keepBodies && { bodies: b.bodies }),
  };
}

/** Seals a due summary under the key of the epoch it summarises. */
export function sealDueSummary(d: DueSummary, key: Uint8Array, lastSeq: LastSeqs): Unstored {
  const seq = nextSeq(lastSeq, summarySeqKey(d.patientId, d.stream, d.deviceId, d.kind));
  const s = sealSummary(key, { ...d, seq });
  return {
    rec: { id: s.id, patientId: d.patientId, deviceId: d.deviceId, stream: d.stream, epoch: d.epoch, seq, firstTs: s.header.firstTs, lastTs: s.header.lastTs, count: s.header.count, bytes: s.bytes.length, kind: d.kind },
    bytes: s.bytes,
    // A summary holds back no device's acknowledgement.
    firstIntake: Number.MAX_SAFE_INTEGER,
    summary: d,
  };
}
