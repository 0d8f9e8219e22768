/**
 * Store and forward: every durable batch, epoch record and anchor record goes to ingest, and
 * nothing is forgotten until ingest has confirmed it is stored.
 *
 * The queue needs no file of its own. The index already lists every durable batch in order, and
 * the pack store holds its bytes. `uploads.jsonl` (the shared append-only log) records each batch
 * ingest confirmed (201, or 200 when it already had those bytes). So what is waiting is "indexed
 * but not confirmed": it survives a crash at any moment, and a restart resumes where it stopped.
 * The spool costs no extra disk for ciphertext: the local store is kept in any case.
 *
 * Epoch records (epochs.jsonl) and mined anchor records (anchors.jsonl) are queued the same way,
 * confirmed under the names `epoch:N` and `anchor:ROOT`. An anchor record waits until every batch
 * it covers is confirmed, since ingest checks them against what it stores.
 *
 * The spool keeps no copy of the ciphertext, so its disk quota (`quotaBytes`) is an alarm, not a
 * drop: when the batches waiting exceed it, the gateway keeps sealing into its local store, raises
 * `overQuota` in status and metrics, logs an error, and uploads everything, oldest first, once
 * ingest takes it again. Nothing is ever dropped to make room.
 *
 * Draining is in index order, `concurrency` uploads at a time; batches go up to BUNDLE_MAX_BATCHES
 * in one request (POST /v1/batches, one signature for all), and ingest answers for each. A network error or a 5xx backs off
 * exponentially (0.5 s doubling to MAX_BACKOFF_MS, with full jitter) and tries again. A 4xx is a refusal
 * (for example, the patient is not bound to this gateway on chain yet): the batch waits, is
 * reported (`refused`, log), and is tried again at the next backoff. It is never dropped.
 */
import type { Logger } from 'pino';
import type { EpochRecord } from '@vitalgate/protocol';
import { AppendLog } from '@vitalgate/protocol/durable';
import type { MinedAnchor } from '../anchoring/anchorer.js';
import type { BatchRecord } from '../store/batch-index.js';
import type { PackStore } from '../store/pack-store.js';
import { envelopeUploadKey, type EnvelopeRecord } from '../envelopes/envelope-issuer.js';

/** Where a batch under an anchor sits, for the anchor record. */
export type AnchorBatchRef = Pick<BatchRecord, 'id' | 'patientId' | 'stream' | 'firstTs' | 'kind'>;

export type SendResult = { status: number; error?: string };

/** What the uploader needs to send each kind of item (implemented with the ingest client and the chain link). */
export interface CloudSender {
  /** Sends the sealed batch; resolves with the HTTP status, or rejects when ingest cannot be reached. */
  putBatch(rec: BatchRecord, bytes: Uint8Array): Promise<SendResult>;
  putEpoch(rec: EpochRecord): Promise<SendResult>;
  putAnchor(a: MinedAnchor, batches: AnchorBatchRef[]): Promise<SendResult>;
  putEnvelope(rec: EnvelopeRecord): Promise<SendResult>;
  /** Sends several batches in one request (a bundle): one result per batch, in order; rejects when ingest cannot be reached. */
  putBatches?(batches: ReadonlyArray<{ rec: BatchRecord; bytes: Uint8Array }>): Promise<SendResult[]>;
}

type Item =
  | { kind: 'batch'; key: string; rec: BatchRecord; durableAt: number }
  | { kind: 'epoch'; key: string; rec: EpochRecord; durableAt: number }
  | { kind: 'anchor'; key: string; anchor: MinedAnchor; batches: AnchorBatchRef[]; durableAt: number }
  | { kind: 'envelope'; key: string; rec: EnvelopeRecord; durableAt: number };

export interface UploaderStatus {
  /** Batches durable here and not yet confirmed by ingest. */
  waiting: number;
  /** Their size: the ciphertext this gateway carries that the cloud does not have yet. */
  waitingBytes: number;
  /** Epoch records, anchor records and key envelopes not yet confirmed. */
  recordsWaiting: number;
  /** The spool's quota, and whether `waitingBytes` is over it (the alarm). */
  quotaBytes: number;
  overQuota: boolean;
  /** Age (ms) of the oldest waiting batch, by when it became durable. */
  oldestWaitingMs: number;
  uploaded: number;
  uploadedBytes: number;
  /** Sum over uploaded batches of (confirmed by ingest − durable here), ms: Δsum / Δuploaded is the mean over a period. */
  uploadLatencyMsSum: number;
  recordsUploaded: number;
  /** Batches ingest refused (4xx), by error code; they wait and are retried. */
  refused: Record<string, number>;
  lastError?: string;
  retryInMs?: number;
}

/** `id` is a batch id, `epoch:N`, `anchor:ROOT` or `envelope:GRANTEE:PATIENT:STREAM:EPOCH`. */
interface UploadRecord { id: string; at: number }

const refOf = (r: BatchRecord): AnchorBatchRef => ({ id: r.id, patientId: r.patientId, stream: r.stream, firstTs: r.firstTs, ...(r.kind && { kind: r.kind }) });

export const DEFAULT_UPLOAD_CONCURRENCY = 8;
/**
 * The longest pause between tries while ingest is down. It bounds how long a backlog waits after
 * ingest is back (a 60 s cap made a 60 s outage drain in ~60 s, nearly all of it waiting); one try
 * per gateway every 5–10 s is nothing for ingest to answer.
 */
export const MAX_BACKOFF_MS = 10_000;
/** Batches per bundle and their total size: a backlog drains in requests of this size. */
export const BUNDLE_MAX_BATCHES = 64;
export const BUNDLE_MAX_BYTES = 2 * 1024 * 1024;
/** 10 GiB of ciphertext waiting: days of a ward's data, and far below a gateway's disk. */
export const DEFAULT_SPOOL_QUOTA_BYTES = 10 * 1024 ** 3;

export interface UploaderOptions {
  concurrency?: number;
  quotaBytes?: number;
  logger?: Logger;
  /** epochs.jsonl and every mined root of anchors.jsonl, as read at start. */
  epochs?: readonly EpochRecord[];
  anchors?: readonly MinedAnchor[];
  /** envelopes.jsonl, as read at start. */
  envelopes?: readonly EnvelopeRecord[];
}

export class Uploader {
  /** In index order: Map iteration is insertion order. */
  private readonly waiting = new Map<string, Item>();
  private waitingBytes = 0;
  private overQuota = false;
  private readonly inFlight = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private backoffMs = 0;
  private nextTryAt = 0;
  /** The uploads running, at most `concurrency`. */
  private readonly workers = new Set<Promise<void>>();
  private stopped = false;
  /** Called with the ids of the batches ingest has just confirmed (logged as uploaded). */
  onConfirmed: ((ids: string[]) => void) | undefined;
  /** The pack read last: the queue is in index order, so consecutive batches share their pack. */
  private pack: { id: string; bytes: Uint8Array } | undefined;
  private readonly s = { uploaded: 0, uploadedBytes: 0, uploadLatencyMsSum: 0, recordsUploaded: 0, refused: {} as Record<string, number>, lastError: undefined as string | undefined };
  /** Where each batch not yet under an uploaded anchor sits, for anchor records mined later. */
  private readonly refs = new Map<string, AnchorBatchRef>();

  private constructor(
    private log: AppendLog<UploadRecord> | undefined,
    private readonly store: PackStore,
    private readonly sender: CloudSender,
    private readonly concurrency: number,
    readonly quotaBytes: number,
    private readonly logger?: Logger,
  ) {}

  /** `indexed` is the index as loaded at start; what `uploads` does not confirm is queued. */
  static async open(path: string, indexed: readonly BatchRecord[], store: PackStore, sender: CloudSender, o: UploaderOptions = {}): Promise<Uploader> {
    const { log, entries, tornBytes } = await AppendLog.open<UploadRecord>(path);
    if (tornBytes) o.logger?.warn({ tornBytes }, 'upload log: cut off a torn last record (that item is uploaded again; ingest takes it as a no-op)');
    const done = new Set(entries.map((e) => e.value.id));
    const u = new Uploader(log, store, sender, o.concurrency ?? DEFAULT_UPLOAD_CONCURRENCY, o.quotaBytes ?? DEFAULT_SPOOL_QUOTA_BYTES, o.logger);
    const anchors = (o.anchors ?? []).filter((a) => !done.has(`anchor:${a.root}`));
    // Batches under an anchor record already confirmed need no ref; every other one may be named by one.
    const covered = new Set((o.anchors ?? []).filter((a) => done.has(`anchor:${a.root}`)).flatMap((a) => a.ids));
    for (const r of indexed) {
      if (!done.has(r.id)) u.enqueue({ kind: 'batch', key: r.id, rec: r, durableAt: r.durableAt });
      if (!covered.has(r.id)) u.refs.set(r.id, refOf(r));
    }
    for (const e of o.epochs ?? []) if (!done.has(`epoch:${e.epoch}`)) u.enqueue({ kind: 'epoch', key: `epoch:${e.epoch}`, rec: e, durableAt: e.startedAt });
    for (const a of anchors) u.addAnchor(a);
    for (const e of o.envelopes ?? []) if (!done.has(envelopeUploadKey(e))) u.enqueue({ kind: 'envelope', key: envelopeUploadKey(e), rec: e, durableAt: e.at });
    return u;
  }

  add(records: readonly BatchRecord[]): void {
    for (const r of records) {
      this.refs.set(r.id, refOf(r));
      this.enqueue({ kind: 'batch', key: r.id, rec: r, durableAt: r.durableAt });
    }
    this.kick();
  }

  addEpoch(rec: EpochRecord): void {
    this.enqueue({ kind: 'epoch', key: `epoch:${rec.epoch}`, rec, durableAt: Date.now() });
    this.kick();
  }

  addEnvelope(rec: EnvelopeRecord): void {
    this.enqueue({ kind: 'envelope', key: envelopeUploadKey(rec), rec, durableAt: rec.at });
    this.kick();
  }

  addAnchor(a: MinedAnchor): void {
    const batches: AnchorBatchRef[] = [];
    for (const id of a.ids) {
      const ref = this.refs.get(id);
      if (!ref) {
        // Only a damaged index could lose a batch an anchor names; say so rather than send a record ingest would refuse.
        this.logger?.error({ root: a.root, id }, 'an anchored batch is not in the index; its anchor record is not uploaded');
        return;
      }
      batches.push(ref);
    }
    for (const id of a.ids) this.refs.delete(id);
    this.enqueue({ kind: 'anchor', key: `anchor:${a.root}`, anchor: a, batches, durableAt: a.at });
    this.kick();
  }

  private enqueue(item: Item): void {
    if (this.waiting.has(item.key)) return;
    this.waiting.set(item.key, item);
    if (item.kind === 'batch') {
      this.waitingBytes += item.rec.bytes;
      this.checkQuota();
    }
  }

  private checkQuota(): void {
    const over = this.waitingBytes > this.quotaBytes;
    if (over === this.overQuota) return;
    this.overQuota = over;
    if (over) this.logger?.error({ waitingBytes: this.waitingBytes, quotaBytes: this.quotaBytes }, 'upload spool over its quota: ingest is not taking batches fast enough; sealing goes on locally and nothing is dropped, but the cloud copy is falling behind');
    else this.logger?.info({ waitingBytes: this.waitingBytes, quotaBytes: this.quotaBytes }, 'upload spool back under its quota');
  }

  /** An anchor record goes once ingest has every batch it covers. */
  private ready(item: Item): boolean {
    return item.kind !== 'anchor' || item.batches.every((b) => !this.waiting.has(b.id));
  }

  start(intervalMs = 200): void {
    this.timer = setInterval(() => this.kick(), intervalMs);
    this.kick();
  }

  /**
   * Starts uploaders until `concurrency` run or nothing free is left. Each one claims its item or
   * bundle before its first await, so a kick with 70 batches waiting starts two, not eight. Workers
   * that find the queue empty end, and later kicks (every add, every tick) start them again: a
   * drain that began with one batch waiting still grows to full concurrency when a backlog forms.
   */
  private kick(): void {
    while (!this.stopped && this.workers.size < this.concurrency && Date.now() >= this.nextTryAt) {
      const first = this.nextItem();
      if (!first) return;
      const w: Promise<void> = this.work(first).finally(() => {
        this.workers.delete(w);
      });
      this.workers.add(w);
    }
  }

  /** Uploads `first`, then whatever is free next, until nothing is or a failure asks for a pause. */
  private async work(first: Item): Promise<void> {
    for (let next: Item | undefined = first; next; next = !this.stopped && Date.now() >= this.nextTryAt ? this.nextItem() : undefined) {
      // Batches go in bundles when ingest takes them: one request and one signature for many.
      const group = next.kind === 'batch' && this.sender.putBatches ? this.nextBatches() : [next];
      for (const i of group) this.inFlight.add(i.key);
      try {
        if (group.length > 1) await this.uploadBundle(group as Array<Extract<Item, { kind: 'batch' }>>);
        else await this.uploadOne(group[0]!);
      } finally {
        for (const i of group) this.inFlight.delete(i.key);
      }
    }
  }

  /** Uploads until nothing that is ready waits or a failure pauses; resolves when every upload has ended. */
  private async drain(): Promise<void> {
    for (;;) {
      this.kick();
      if (this.workers.size === 0) return;
      await Promise.all(this.workers);
    }
  }

  /** The first waiting item, in order, not in flight and ready. Scans from the front: in-flight items are few. */
  private nextItem(): Item | undefined {
    for (const item of this.waiting.values()) if (!this.inFlight.has(item.key) && this.ready(item)) return item;
    return undefined;
  }

  /** Waiting batches not in flight, in order, up to a bundle's worth. */
  private nextBatches(): Item[] {
    const out: Item[] = [];
    let bytes = 0;
    for (const item of this.waiting.values()) {
      if (item.kind !== 'batch' || this.inFlight.has(item.key)) continue;
      if (out.length && bytes + item.rec.bytes > BUNDLE_MAX_BYTES) break;
      out.push(item);
      bytes += item.rec.bytes;
      if (out.length >= BUNDLE_MAX_BATCHES) break;
    }
    return out;
  }

  private async bytesOf(rec: BatchRecord): Promise<Uint8Array> {
    if (this.pack?.id !== rec.pack) this.pack = { id: rec.pack, bytes: await this.store.readPack(rec.pack) };
    return this.pack.bytes.subarray(rec.offset, rec.offset + rec.bytes);
  }

  private async uploadBundle(items: Array<Extract<Item, { kind: 'batch' }>>): Promise<void> {
    let results: SendResult[];
    try {
      const list = [];
      for (const i of items) list.push({ rec: i.rec, bytes: await this.bytesOf(i.rec) });
      results = await this.sender.putBatches!(list);
    } catch (e) {
      return this.pause(`ingest unreachable: ${(e as Error).message.split('\n')[0]!.slice(0, 200)}`);
    }
    const done = items.filter((_, i) => results[i]?.status === 200 || results[i]?.status === 201);
    if (done.length) await this.confirm(done);
    const failed = results.findIndex((r) => r.status !== 200 && r.status !== 201);
    if (failed < 0) return;
    for (const [i, r] of results.entries()) {
      if (r.status < 400 || r.status >= 500) continue;
      const code = r.error ?? `http-${r.status}`;
      this.s.refused[code] = (this.s.refused[code] ?? 0) + 1;
      this.logger?.warn({ item: items[i]!.key, patientId: items[i]!.rec.patientId, status: r.status, error: code }, 'ingest refused an upload; it stays queued and is retried');
    }
    const r = results[failed]!;
    return this.pause(`ingest answered ${r.status}${r.error ? ` (${r.error})` : ''}`);
  }

  /** Ingest has these durably: log it (one append), then forget them. */
  private async confirm(items: Item[]): Promise<void> {
    const at = Date.now();
    await this.log?.append(items.map((i) => ({ id: i.key, at })));
    for (const item of items) {
      this.waiting.delete(item.key);
      if (item.kind === 'batch') {
        this.s.uploaded++;
        this.s.uploadedBytes += item.rec.bytes;
        this.s.uploadLatencyMsSum += Math.max(0, at - item.durableAt);
        this.waitingBytes -= item.rec.bytes;
      } else {
        this.s.recordsUploaded++;
      }
    }
    this.checkQuota();
    this.backoffMs = 0;
    this.s.lastError = undefined;
    const ids = items.flatMap((i) => i.kind === 'batch' ? [i.key] : []);
    if (ids.length) this.onConfirmed?.(ids);
  }

  private async send(item: Item): Promise<SendResult> {
    if (item.kind === 'epoch') return this.sender.putEpoch(item.rec);
    if (item.kind === 'anchor') return this.sender.putAnchor(item.anchor, item.batches);
    if (item.kind === 'envelope') return this.sender.putEnvelope(item.rec);
    return this.sender.putBatch(item.rec, await this.bytesOf(item.rec));
  }

  private async uploadOne(item: Item): Promise<void> {
    let result: SendResult;
    try {
      result = await this.send(item);
    } catch (e) {
      return this.pause(`ingest unreachable: ${(e as Error).message.split('\n')[0]!.slice(0, 200)}`);
    }
    if (result.status === 200 || result.status === 201) return this.confirm([item]);
    if (result.status >= 400 && result.status < 500) {
      const code = result.error ?? `http-${result.status}`;
      this.s.refused[code] = (this.s.refused[code] ?? 0) + 1;
      this.logger?.warn({ item: item.key, ...(item.kind === 'batch' && { patientId: item.rec.patientId }), status: result.status, error: code }, 'ingest refused an upload; it stays queued and is retried');
    }
    return this.pause(`ingest answered ${result.status}${result.error ? ` (${result.error})` : ''}`);
  }

  private pause(reason: string): void {
    // The other uploads in flight fail together: one outage doubles the backoff once, not once per upload.
    if (Date.now() < this.nextTryAt) return;
    this.backoffMs = Math.min(Math.max(500, this.backoffMs * 2), MAX_BACKOFF_MS);
    // Full jitter: many gateways coming back after an outage do not retry in step.
    const wait = Math.round(this.backoffMs / 2 + Math.random() * (this.backoffMs / 2));
    this.nextTryAt = Date.now() + wait;
    if (this.s.lastError !== reason) this.logger?.warn({ reason, retryInMs: wait, waiting: this.waiting.size }, 'upload paused');
    this.s.lastError = reason;
  }

  status(): UploaderStatus {
    let oldest = Infinity;
    let batches = 0;
    // Map order is arrival order, so the first item is the oldest (records carry their own time).
    for (const r of this.waiting.values()) {
      oldest = Math.min(oldest, r.durableAt);
      if (r.kind === 'batch') batches++;
    }
    return {
      waiting: batches,
      waitingBytes: this.waitingBytes,
      recordsWaiting: this.waiting.size - batches,
      quotaBytes: this.quotaBytes,
      overQuota: this.overQuota,
      oldestWaitingMs: this.waiting.size ? Math.max(0, Date.now() - oldest) : 0,
      uploaded: this.s.uploaded,
      uploadedBytes: this.s.uploadedBytes,
      uploadLatencyMsSum: this.s.uploadLatencyMsSum,
      recordsUploaded: this.s.recordsUploaded,
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
      await Promise.all(this.workers);
      this.nextTryAt = 0;
      // Twice: the last anchor record becomes ready only once its batches are confirmed.
      if (this.waiting.size) await this.drain();
      this.nextTryAt = 0;
      if (this.waiting.size) await this.drain();
    })();
    await Promise.race([final, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    this.stopped = true;
    await Promise.all(this.workers).catch(() => undefined);
    const log = this.log;
    this.log = undefined;
    await log?.close();
  }
}
