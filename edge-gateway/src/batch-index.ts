/**
 * The gateway's local index of sealed batches: an append-only JSON-lines file. Appends are group
 * committed (one write and one fsync per flush), and a torn last line after a crash is ignored on
 * load, because the batch it described is still in the store and `open`/`verify` walk the store.
 */
import { open, readFile, type FileHandle } from 'node:fs/promises';
import type { StreamName } from '@vitalgate/protocol';

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
}

/** Key of the batch-sequence counter: batches are numbered per (patient, stream, device). */
export const seqKey = (patientId: string, stream: StreamName, deviceId: string): string => `${patientId}/${stream}/${deviceId}`;

export class BatchIndex {
  private fh: FileHandle | undefined;
  /** Highest batch sequence used per seqKey, so numbering continues across restarts. */
  readonly lastSeq = new Map<string, number>();
  count = 0;
  private constructor(readonly path: string) {}

  /** Opens for appending; `loaded` holds the records read at open (for the anchorer), once. */
  static async open(path: string): Promise<{ index: BatchIndex; loaded: BatchRecord[] }> {
    const idx = new BatchIndex(path);
    const loaded = await BatchIndex.load(path);
    for (const r of loaded) idx.note(r);
    idx.fh = await open(path, 'a+', 0o644);
    const { size } = await idx.fh.stat();
    if (size > 0) {
      const last = Buffer.alloc(1);
      await idx.fh.read(last, 0, 1, size - 1);
      // Start on a fresh line after a torn append, so the next record is not glued onto it.
      if (last[0] !== 0x0a) await idx.fh.write('\n');
    }
    return { index: idx, loaded };
  }

  private note(r: BatchRecord): void {
    const k = seqKey(r.patientId, r.stream, r.deviceId);
    this.lastSeq.set(k, Math.max(this.lastSeq.get(k) ?? -1, r.seq));
    this.count++;
  }

  static async load(path: string): Promise<BatchRecord[]> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const out: BatchRecord[] = [];
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        out.push(JSON.parse(line) as BatchRecord);
      } catch {
        // A torn final line from a crash mid-append; the batch itself is in the store.
      }
    }
    return out;
  }

  async append(recs: readonly BatchRecord[]): Promise<void> {
    if (!this.fh) throw new Error('index is closed');
    if (recs.length === 0) return;
    await this.fh.write(recs.map((r) => JSON.stringify(r)).join('\n') + '\n');
    await this.fh.sync();
    for (const r of recs) this.note(r);
  }

  async close(): Promise<void> {
    await this.fh?.close();
    this.fh = undefined;
  }
}
