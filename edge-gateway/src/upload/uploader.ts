/**
 * Store and forward: every durable batch goes to ingest, and nothing is forgotten until ingest has
 * confirmed it is stored.
 *
 * The queue needs no file of its own. The index already lists every durable batch in order, and
 * the pack store holds its bytes. `uploads.jsonl` (the shared append-only log) records each batch
 * ingest confirmed (201, or 200 when it already had those bytes). So what is waiting is "indexed
 * but not confirmed": it survives a crash at any moment, and a restart resumes where it stopped.
 * The spool costs no extra disk for ciphertext: the local store is kept in any case.
 *
 * Draining is in index order, `concurrency` uploads at a time. A network error or a 5xx backs off
 * exponentially (0.5 s doubling to 60 s, with full jitter) and tries again. A 4xx is a refusal
 * (for example, the patient is not bound to this gateway on chain yet): the batch waits, is
 * reported (`refused`, log), and is tried again at the next backoff. It is never dropped.
 */
import type { Logger } from 'pino';
import { AppendLog } from '../append-log.js';
import type { BatchRecord } from '../batch-index.js';
import type { PackStore } from '../pack-store.js';

/** What the uploader needs to send one batch (implemented with the ingest client and the chain link). */
export interface BatchSender {
  /** Sends the sealed batch; resolves with the HTTP status, or rejects when ingest cannot be reached. */
  putBatch(rec: BatchRecord, bytes: Uint8Array): Promise<{ status: number; error?: string }>;
}

export interface UploaderStatus {
  /** Batches durable here and not yet confirmed by ingest. */
  waiting: number;
  /** Age (ms) of the oldest waiting batch, by when it became durable. */
  oldestWaitingMs: number;
  uploaded: number;
  uploadedBytes: number;
  /** Batches ingest refused (4xx), by error code; they wait and are retried. */
  refused: Record<string, number>;
  lastError?: string;
  retryInMs?: number;
}

interface UploadRecord { id: string; at: number }

export const DEFAULT_UPLOAD_CONCURRENCY = 8;

export class Uploader {
  private readonly waiting = new Map<string, BatchRecord>();
  private readonly inFlight = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private backoffMs = 0;
  private nextTryAt = 0;
  private running: Promise<void> | undefined;
  private stopped = false;
  /** The pack read last: the queue is in index order, so consecutive batches share their pack. */
  private pack: { id: string; bytes: Uint8Array } | undefined;
  private readonly s = { uploaded: 0, uploadedBytes: 0, refused: {} as Record<string, number>, lastError: undefined as string | undefined };

  private constructor(
    private log: AppendLog<UploadRecord> | undefined,
    private readonly store: PackStore,
    private readonly sender: BatchSender,
    private readonly concurrency: number,
    private readonly logger?: Logger,
  ) {}

  /** `indexed` is the index as loaded at start; what `uploads` does not confirm is queued. */
  static async open(path: string, indexed: readonly BatchRecord[], store: PackStore, sender: BatchSender, o: { concurrency?: number; logger?: Logger } = {}): Promise<Uploader> {
    const { log, entries, tornBytes } = await AppendLog.open<UploadRecord>(path);
    if (tornBytes) o.logger?.warn({ tornBytes }, 'upload log: cut off a torn last record (that batch is uploaded again; ingest takes it as a no-op)');
    const done = new Set(entries.map((e) => e.value.id));
    const u = new Uploader(log, store, sender, o.concurrency ?? DEFAULT_UPLOAD_CONCURRENCY, o.logger);
    for (const r of indexed) if (!done.has(r.id)) u.waiting.set(r.id, r);
    return u;
  }

  add(records: readonly BatchRecord[]): void {
    for (const r of records) this.waiting.set(r.id, r);
    this.kick();
  }

  start(intervalMs = 200): void {
    this.timer = setInterval(() => this.kick(), intervalMs);
    this.kick();
  }

  private kick(): void {
    if (this.stopped || this.running || this.waiting.size === this.inFlight.size || Date.now() < this.nextTryAt) return;
    this.running = this.drain().finally(() => {
      this.running = undefined;
    });
  }

  /** Uploads what waits, `concurrency` at a time, until it is empty or a failure asks for a pause. */
  private async drain(): Promise<void> {
    const worker = async (): Promise<void> => {
      while (!this.stopped && Date.now() >= this.nextTryAt) {
        const next = [...this.waiting.values()].find((r) => !this.inFlight.has(r.id));
        if (!next) return;
        this.inFlight.add(next.id);
        try {
          await this.uploadOne(next);
        } finally {
          this.inFlight.delete(next.id);
        }
      }
    };
    await Promise.all(Array.from({ length: this.concurrency }, worker));
  }

  private async uploadOne(rec: BatchRecord): Promise<void> {
    let result: { status: number; error?: string };
    try {
      if (this.pack?.id !== rec.pack) this.pack = { id: rec.pack, bytes: await this.store.readPack(rec.pack) };
      const pack = this.pack.bytes;
      result = await this.sender.putBatch(rec, pack.subarray(rec.offset, rec.offset + rec.bytes));
    } catch (e) {
      return this.pause(`ingest unreachable: ${(e as Error).message.split('\n')[0]!.slice(0, 200)}`);
    }
    if (result.status === 200 || result.status === 201) {
      await this.log?.append([{ id: rec.id, at: Date.now() }]);
      this.waiting.delete(rec.id);
      this.s.uploaded++;
      this.s.uploadedBytes += rec.bytes;
      this.backoffMs = 0;
      this.s.lastError = undefined;
      return;
    }
    if (result.status >= 400 && result.status < 500) {
      const code = result.error ?? `http-${result.status}`;
      this.s.refused[code] = (this.s.refused[code] ?? 0) + 1;
      this.logger?.warn({ id: rec.id, patientId: rec.patientId, status: result.status, error: code }, 'ingest refused a batch; it stays queued and is retried');
    }
    return this.pause(`ingest answered ${result.status}${result.error ? ` (${result.error})` : ''}`);
  }

  private pause(reason: string): void {
    this.backoffMs = Math.min(Math.max(500, this.backoffMs * 2), 60_000);
    // Full jitter: many gateways coming back after an outage do not retry in step.
    const wait = Math.round(this.backoffMs / 2 + Math.random() * (this.backoffMs / 2));
    this.nextTryAt = Date.now() + wait;
    if (this.s.lastError !== reason) this.logger?.warn({ reason, retryInMs: wait, waiting: this.waiting.size }, 'upload paused');
    this.s.lastError = reason;
  }

  status(): UploaderStatus {
    let oldest = Infinity;
    for (const r of this.waiting.values()) oldest = Math.min(oldest, r.durableAt);
    return {
      waiting: this.waiting.size,
      oldestWaitingMs: this.waiting.size ? Math.max(0, Date.now() - oldest) : 0,
      uploaded: this.s.uploaded,
      uploadedBytes: this.s.uploadedBytes,
      refused: { ...this.s.refused },
      ...(this.s.lastError && { lastError: this.s.lastError, retryInMs: Math.max(0, this.nextTryAt - Date.now()) }),
    };
  }

  /** One last bounded attempt to send what waits; what is left is uploaded after the next start. */
  async stop(timeoutMs = 10_000): Promise<void> {
    clearInterval(this.timer);
    this.nextTryAt = 0;
    // One more pass whatever the backoff: a one-shot `run` should leave nothing behind that ingest
    // would take now. If ingest is down, each attempt fails at once and the rest waits on disk.
    const final = (async () => {
      await this.running;
      this.nextTryAt = 0;
      if (this.waiting.size) await this.drain();
    })();
    await Promise.race([final, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    this.stopped = true;
    await this.running?.catch(() => undefined);
    const log = this.log;
    this.log = undefined;
    await log?.close();
  }
}
