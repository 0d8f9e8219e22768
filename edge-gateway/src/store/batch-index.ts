/**
 * The gateway's local index of sealed batches, on the shared append-only log (@vitalgate/protocol/durable): one
 * group commit per flush, a torn last record cut off at open. That record's batch is still in its
 * pack, and the gateway adopts it again at start, so the repair loses no data.
 */
import { AppendLog, readLog } from '@vitalgate/protocol/durable';
import type { StreamName, SummaryKind } from '@vitalgate/protocol';

export interface BatchRecord {
  id: string;
  patientId: string;
  deviceId: string;
  stream: StreamName;
  epoch: number;
  seq: number;
  firstTs: number;
  lastTs: number;
  count: number;
  bytes: number;
  /** Where the batch is stored: its pack (SHA-256 of the pack file) and the byte range in it. */
  pack: string;
  offset: number;
  /** Wall-clock ms at which the batch and this record were durable. */
  durableAt: number;
  /**
   * The devices' sequence numbers of the readings in the batch, as [first, last] runs. They rebuild
   * de-duplication at start, so a reading redelivered after a crash is not sealed twice. Absent in
   * records written before they were kept.
   */
  readingSeqs?: Array<[number, number]>;
  /** Set for a sealed summary (protocol/src/summary.ts); absent for readings. */
  kind?: SummaryKind;
}

/** Key of the batch-sequence counter: batches are numbered per (patient, stream, device). */
export const seqKey = (patientId: string, stream: StreamName, deviceId: string): string => `${patientId}/${stream}/${deviceId}`;
/** Summaries are numbered on their own, so readings batches stay numbered without gaps. */
export const summarySeqKey = (patientId: string, stream: StreamName, deviceId: string, kind: SummaryKind): string => `${seqKey(patientId, stream, deviceId)}/${kind}`;

export class BatchIndex {
  /** Highest batch sequence used per seqKey, so numbering continues across restarts. */
  readonly lastSeq = new Map<string, number>();
  count = 0;
  private constructor(private readonly log: AppendLog<BatchRecord>) {}

  get path(): string {
    return this.log.path;
  }

  /**
   * Opens for appending, cutting off a torn last record (its batch is still in the store and is
   * adopted again at start). `loaded` holds the records read at open, once; `tornBytes` and
   * `damagedLines` say what was repaired or skipped.
   */
  static async open(path: string): Promise<{ index: BatchIndex; loaded: BatchRecord[]; tornBytes: number; damagedLines: number }> {
    const { log, entries, tornBytes, damagedLines } = await AppendLog.open<BatchRecord>(path);
    const idx = new BatchIndex(log);
    const loaded = entries.map((e) => e.value);
    for (const r of loaded) idx.note(r);
    return { index: idx, loaded, tornBytes, damagedLines };
  }

  private note(r: BatchRecord): void {
    const k = r.kind ? summarySeqKey(r.patientId, r.stream, r.deviceId, r.kind) : seqKey(r.patientId, r.stream, r.deviceId);
    this.lastSeq.set(k, Math.max(this.lastSeq.get(k) ?? -1, r.seq));
    this.count++;
  }

  /** Every whole record, read without opening for writing (offline tools). */
  static async load(path: string): Promise<BatchRecord[]> {
    return (await readLog<BatchRecord>(path)).entries.map((e) => e.value);
  }

  async append(recs: readonly BatchRecord[]): Promise<void> {
    if (recs.length === 0) return;
    await this.log.append(recs);
    for (const r of recs) this.note(r);
  }

  async close(): Promise<void> {
    await this.log.close();
  }
}
