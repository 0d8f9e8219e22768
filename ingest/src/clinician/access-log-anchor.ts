/**
 * The access log, anchored: every `periodMs` the entries written since the last anchor are hashed,
 * their Merkle root is recorded through the AuditLog contract from the auditor account, and an
 * anchor record is stored beside them, so that anyone holding an entry can prove against the chain
 * that it was logged then and not altered since (`vitalgate audit`).
 *
 *   entry hash   keccak256(the entry object's stored bytes)
 *   tree         StandardMerkleTree of the entry hashes, leaf encoding ['bytes32'] (contracts/merkle.ts)
 *   on chain     AuditLog.anchorAccessLog(root, count, firstTs, lastTs, uri = the anchor record's key)
 *   record       access-log-anchors/{lastTs, 13 digits}-{root, 64 hex}:
 *                {"v": 1, root, count, firstTs, lastTs, firstKey, lastKey, auditor, tx, block,
 *                 "entries": [{"key", "hash", "patient"?}]} in key order (the tree's input order)
 *
 * Entries are taken in key (= time) order, and only once they are `settleMs` old: an entry's time is
 * set before its write completes, so a slower write from a moment ago may still land before the cut.
 * An entry that lands later than that (a write slower than `settleMs`) is never anchored, and
 * `vitalgate audit` shows it as unanchored rather than hiding it.
 *
 * One instance anchors (the one given the auditor key): two would anchor overlapping sets. A crash
 * between the transaction and the record is repaired on the next tick: the same entries give the
 * same root, found already recorded on chain, and only the record is written.
 */
import { keccak256 } from 'ethers';
import { buildBatchTree, type BatchMerkleTree } from '@vitalgate/contracts';
import type { ObjectStore } from '../storage/object-store.js';

export const ACCESS_LOG_PREFIX = 'access-log/';
export const ACCESS_LOG_ANCHOR_PREFIX = 'access-log-anchors/';
export const DEFAULT_ACCESS_LOG_ANCHOR_MS = 60_000;
export const DEFAULT_ACCESS_LOG_SETTLE_MS = 10_000;
/** Entries per anchor: bounds one tick's memory and reads; a backlog takes several ticks. */
const MAX_ENTRIES_PER_ANCHOR = 20_000;
const READ_CONCURRENCY = 16;

export interface AccessLogAnchorRecord {
  v: 1;
  root: string;
  count: number;
  firstTs: number;
  lastTs: number;
  firstKey: string;
  lastKey: string;
  auditor: string;
  tx: string | null;
  block: number | null;
  entries: { key: string; hash: string; patient?: string }[];
}

/** What the anchorer needs of the AuditLog contract (connected to the auditor's signer). */
export interface AuditLogSink {
  anchorAccessLog(root: string, count: number, firstTs: number, lastTs: number, uri: string): Promise<{ hash: string; wait(): Promise<{ blockNumber: number } | null> }>;
  isRecorded(auditor: string, root: string): Promise<boolean>;
}

export interface AnchorLogger {
  info(o: object, msg: string): void;
  warn(o: object, msg: string): void;
}

/** The time (ms) in an access-log key: access-log/{date}/{ts, 13 digits}-{request id}. */
export function accessLogKeyTime(key: string): number | undefined {
  const m = /^access-log\/\d{4}-\d{2}-\d{2}\/(\d{13})-/.exec(key);
  return m ? Number(m[1]) : undefined;
}

export const accessLogEntryHash = (bytes: Uint8Array): string => keccak256(bytes);

export const anchorRecordKey = (lastTs: number, root: string): string => `${ACCESS_LOG_ANCHOR_PREFIX}${String(lastTs).padStart(13, '0')}-${root.replace(/^0x/, '')}`;

export function parseAnchorRecord(bytes: Uint8Array): AccessLogAnchorRecord | undefined {
  try {
    const r = JSON.parse(Buffer.from(bytes).toString('utf8')) as AccessLogAnchorRecord;
    if (r.v !== 1 || typeof r.root !== 'string' || !Array.isArray(r.entries) || typeof r.lastKey !== 'string') return undefined;
    return r;
  } catch {
    return undefined;
  }
}

/** Runs `f` over `items`, `n` at a time, keeping order. */
async function mapLimit<T, R>(items: readonly T[], n: number, f: (t: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i]!);
    }
  }));
  return out;
}

/**
 * The anchor records in storage, read once each (they are immutable) and kept in key order, with
 * their Merkle trees built on demand; shared by the anchorer (its cursor) and the audit route.
 */
export class AnchorRecords {
  private readonly records: { key: string; record: AccessLogAnchorRecord }[] = [];
  private readonly trees = new Map<string, BatchMerkleTree>();
  private readonly byEntry = new Map<string, { record: AccessLogAnchorRecord; entry: AccessLogAnchorRecord['entries'][number] }>();
  private loading: Promise<void> | undefined;

  constructor(private readonly store: ObjectStore) {}

  /** Reads the records written since the last refresh (by this instance or the anchoring one). */
  refresh(): Promise<void> {
    this.loading ??= this.load().finally(() => { this.loading = undefined; });
    return this.loading;
  }

  private async load(): Promise<void> {
    let after = this.records.at(-1)?.key;
    for (;;) {
      const keys = await this.store.list(ACCESS_LOG_ANCHOR_PREFIX, after, 1000);
      for (const key of keys) {
        const bytes = await this.store.get(key);
        const record = bytes && parseAnchorRecord(bytes);
        if (record) this.push(key, record);
      }
      if (keys.length < 1000) return;
      after = keys.at(-1);
    }
  }

  add(key: string, record: AccessLogAnchorRecord): void {
    if (!this.records.length || this.records.at(-1)!.key < key) this.push(key, record);
  }

  private push(key: string, record: AccessLogAnchorRecord): void {
    this.records.push({ key, record });
    for (const entry of record.entries) this.byEntry.set(entry.key, { record, entry });
  }

  /** The anchor that covers access-log entry `key`, if any. */
  anchorOf(key: string): { record: AccessLogAnchorRecord; entry: AccessLogAnchorRecord['entries'][number] } | undefined {
    return this.byEntry.get(key);
  }

  all(): readonly { key: string; record: AccessLogAnchorRecord }[] {
    return this.records;
  }

  /** The last access-log key anchored, the cursor for the next anchor. */
  get lastAnchoredKey(): string | undefined {
    let last: string | undefined;
    for (const { record } of this.records) if (last === undefined || record.lastKey > last) last = record.lastKey;
    return last;
  }

  tree(record: AccessLogAnchorRecord): BatchMerkleTree {
    let t = this.trees.get(record.root);
    if (!t) {
      t = buildBatchTree(record.entries.map((e) => e.hash));
      this.trees.set(record.root, t);
    }
    return t;
  }
}

export interface AccessLogAnchorOptions {
  store: ObjectStore;
  auditLog: AuditLogSink;
  auditor: string;
  records?: AnchorRecords;
  periodMs?: number;
  settleMs?: number;
  now?: () => number;
  log?: AnchorLogger;
}

export class AccessLogAnchorer {
  readonly records: AnchorRecords;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<AccessLogAnchorRecord | undefined> | undefined;
  private failing = false;

  constructor(private readonly o: AccessLogAnchorOptions) {
    this.records = o.records ?? new AnchorRecords(o.store);
  }

  start(): void {
    this.timer = setInterval(() => void this.anchorOnce(), this.o.periodMs ?? DEFAULT_ACCESS_LOG_ANCHOR_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** Anchors what has settled since the last anchor; the record, or undefined when there was nothing (or it failed, logged). */
  anchorOnce(): Promise<AccessLogAnchorRecord | undefined> {
    this.running ??= this.tick().finally(() => { this.running = undefined; });
    return this.running;
  }

  private async tick(): Promise<AccessLogAnchorRecord | undefined> {
    try {
      const r = await this.anchorSettled();
      if (this.failing) this.o.log?.info({}, 'access log anchoring works again');
      this.failing = false;
      return r;
    } catch (e) {
      if (!this.failing) this.o.log?.warn({ err: (e as Error).message.split('\n')[0]!.slice(0, 300) }, 'cannot anchor the access log (storage or chain); the next period tries again, nothing is skipped');
      this.failing = true;
      return undefined;
    }
  }

  private async anchorSettled(): Promise<AccessLogAnchorRecord | undefined> {
    const { store } = this.o;
    await this.records.refresh();
    const cutoff = (this.o.now ?? Date.now)() - (this.o.settleMs ?? DEFAULT_ACCESS_LOG_SETTLE_MS);
    const keys: string[] = [];
    let after = this.records.lastAnchoredKey;
    collect: for (;;) {
      const page = await store.list(ACCESS_LOG_PREFIX, after, 1000);
      for (const k of page) {
        const ts = accessLogKeyTime(k);
        if (ts === undefined) continue;
        if (ts >= cutoff || keys.length >= MAX_ENTRIES_PER_ANCHOR) break collect;
        keys.push(k);
      }
      if (page.length < 1000) break;
      after = page.at(-1);
    }
    if (!keys.length) return undefined;
    const entries = await mapLimit(keys, READ_CONCURRENCY, async (key) => {
      const bytes = await store.get(key);
      if (!bytes) throw new Error(`access-log entry ${key} was listed but cannot be read`);
      let patient: string | undefined;
      try {
        const p = (JSON.parse(Buffer.from(bytes).toString('utf8')) as { patient?: unknown }).patient;
        if (typeof p === 'string') patient = p;
      } catch {
        // Not JSON: still anchored (its hash is what it is), just not attributed to a patient.
      }
      return { key, hash: accessLogEntryHash(bytes), ...(patient && { patient }) };
    });
    const tree = buildBatchTree(entries.map((e) => e.hash));
    const root = tree.root;
    const firstTs = accessLogKeyTime(keys[0]!)!;
    const lastTs = accessLogKeyTime(keys.at(-1)!)!;
    const recordKey = anchorRecordKey(lastTs, root);
    let tx: string | null = null;
    let block: number | null = null;
    if (!(await this.o.auditLog.isRecorded(this.o.auditor, root))) {
      const sent = await this.o.auditLog.anchorAccessLog(root, entries.length, firstTs, lastTs, recordKey);
      tx = sent.hash;
      block = (await sent.wait())?.blockNumber ?? null;
    }
    const record: AccessLogAnchorRecord = {
      v: 1, root, count: entries.length, firstTs, lastTs, firstKey: keys[0]!, lastKey: keys.at(-1)!, auditor: this.o.auditor, tx, block, entries,
    };
    await store.put(recordKey, new TextEncoder().encode(JSON.stringify(record)));
    this.records.add(recordKey, record);
    this.o.log?.info({ root, count: entries.length, tx, block }, 'access log anchored');
    return record;
  }
}
