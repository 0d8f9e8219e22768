/**
 * Anchors batch ids on chain: every period (default 30 s, and at shutdown) one Merkle root over
 * every batch sealed since the last anchor, in one transaction, whatever the number of devices.
 *
 * The anchor log (anchors.jsonl) is written ahead: a `pending` line (root and the range of index
 * positions it covers) is fsynced before the transaction is sent, an `anchored` line after it is
 * mined. After a crash or a chain outage the pending range is resolved first: if its root is on
 * chain it is recorded, otherwise the same range is sent again. So a batch is anchored exactly
 * once, nothing is lost, and sealing never waits for the chain.
 *
 * A batch's proof is not stored: it is recomputed from its anchor's range of batch ids, which the
 * index already holds (17 hashes per batch would add ~40 MB per anchor at 1000 devices).
 */
import { open, readFile, type FileHandle } from 'node:fs/promises';
import type { Logger } from 'pino';
import { buildBatchTree } from '@vitalgate/contracts';
import type { BatchRecord } from './batch-index.js';
import type { ChainLink } from './chain-link.js';

export type AnchorLogLine =
  | { type: 'pending'; root: string; from: number; to: number; count: number; firstTs: number; lastTs: number; at: number }
  | { type: 'anchored'; root: string; from: number; to: number; count: number; firstTs: number; lastTs: number; txHash: string; blockNumber: number; blockTimestamp: number };

export interface AnchorerStatus {
  anchors: number;
  anchoredBatches: number;
  unanchoredBatches: number;
  lastAnchorAt?: number;
  lastTxHash?: string;
  lastError?: string;
  retryInMs?: number;
}

type Entry = Pick<BatchRecord, 'id' | 'patientId' | 'firstTs' | 'lastTs'>;

export async function readAnchorLog(path: string): Promise<AnchorLogLine[]> {
  try {
    return (await readFile(path, 'utf8')).split('\n').filter(Boolean).flatMap((l) => {
      try { return [JSON.parse(l) as AnchorLogLine]; } catch { return []; }
    });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

export class Anchorer {
  private fh: FileHandle | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private backoffMs = 1000;
  private nextTryAt = 0;
  private readonly s: AnchorerStatus;

  private constructor(
    private readonly chain: ChainLink,
    readonly path: string,
    readonly periodMs: number,
    /** Index position of unanchored[0]. */
    private base: number,
    private unanchored: Entry[],
    private pending: Extract<AnchorLogLine, { type: 'pending' }> | undefined,
    anchors: number,
    private readonly log?: Logger,
  ) {
    this.s = { anchors, anchoredBatches: base, unanchoredBatches: unanchored.length };
  }

  /** `indexed` is every batch record in index order, as loaded at start. */
  static async open(chain: ChainLink, path: string, periodMs: number, indexed: readonly BatchRecord[], log?: Logger): Promise<Anchorer> {
    const lines = await readAnchorLog(path);
    const anchored = lines.filter((l) => l.type === 'anchored');
    const base = anchored.reduce((m, l) => Math.max(m, l.to), 0);
    const last = lines.at(-1);
    const pending = last?.type === 'pending' && last.from === base ? last : undefined;
    const a = new Anchorer(chain, path, periodMs, base, indexed.slice(base).map(({ id, patientId, firstTs, lastTs }) => ({ id, patientId, firstTs, lastTs })), pending, anchored.length, log);
    a.fh = await open(path, 'a', 0o644);
    return a;
  }

  add(records: readonly BatchRecord[]): void {
    for (const r of records) this.unanchored.push({ id: r.id, patientId: r.patientId, firstTs: r.firstTs, lastTs: r.lastTs });
    this.s.unanchoredBatches = this.unanchored.length;
  }

  start(): void {
    this.timer = setInterval(() => void this.anchorNow(), this.periodMs);
  }

  /** Anchors what is waiting (one transaction). Concurrent calls share the run. */
  anchorNow(force = false): Promise<void> {
    if (!force && Date.now() < this.nextTryAt) return Promise.resolve();
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async write(line: AnchorLogLine): Promise<void> {
    const fh = this.fh;
    if (!fh) throw new Error('anchor log is closed');
    await fh.write(JSON.stringify(line) + '\n');
    await fh.sync();
  }

  private async run(): Promise<void> {
    try {
      if (this.pending) await this.resolvePending(this.pending);
      if (this.unanchored.length === 0) return;
      const take = this.unanchored.slice();
      for (const p of new Set(take.map((e) => e.patientId))) await this.chain.ensurePatient(p);
      const tree = buildBatchTree(take.map((e) => e.id));
      const pending: Extract<AnchorLogLine, { type: 'pending' }> = {
        type: 'pending', root: tree.root, from: this.base, to: this.base + take.length, count: take.length,
        firstTs: Math.min(...take.map((e) => e.firstTs)), lastTs: Math.max(...take.map((e) => e.lastTs)), at: Date.now(),
      };
      await this.write(pending);
      this.pending = pending;
      await this.resolvePending(pending);
      this.backoffMs = 1000;
      this.nextTryAt = 0;
      this.s.lastError = undefined;
      this.s.retryInMs = undefined;
    } catch (e) {
      const msg = (e as Error).message.split('\n')[0]!.slice(0, 300);
      this.s.lastError = msg;
      this.s.retryInMs = this.backoffMs;
      this.nextTryAt = Date.now() + this.backoffMs;
      this.log?.warn({ err: msg, retryInMs: this.backoffMs, waiting: this.unanchored.length }, 'anchoring failed; batches stay queued');
      this.backoffMs = Math.min(this.backoffMs * 2, 60_000);
    }
  }

  /** Gets a written-ahead root onto the chain (or finds it already there) and records it. */
  private async resolvePending(p: Extract<AnchorLogLine, { type: 'pending' }>): Promise<void> {
    const anchor = this.chain.contracts.dataAnchor;
    let txHash: string;
    let blockNumber: number;
    if (await anchor.isRecorded(p.root)) {
      const ev = (await anchor.queryFilter(anchor.filters.Anchored(p.root), this.chain.deployment.deployedAtBlock)).at(0);
      if (!ev) throw new Error(`root ${p.root} is recorded but its Anchored event was not found`);
      txHash = ev.transactionHash;
      blockNumber = ev.blockNumber;
    } else {
      const tx = await anchor.anchor(p.root, p.count, p.firstTs, p.lastTs, `vitalgate:${this.chain.address.toLowerCase()}/index/${p.from}-${p.to}`);
      const receipt = await tx.wait();
      if (!receipt || receipt.status !== 1) throw new Error(`anchor transaction ${tx.hash} failed`);
      txHash = receipt.hash;
      blockNumber = receipt.blockNumber;
    }
    const block = await this.chain.provider.getBlock(blockNumber);
    await this.write({ type: 'anchored', root: p.root, from: p.from, to: p.to, count: p.count, firstTs: p.firstTs, lastTs: p.lastTs, txHash, blockNumber, blockTimestamp: block?.timestamp ?? 0 });
    this.unanchored = this.unanchored.slice(p.to - this.base);
    this.base = p.to;
    this.pending = undefined;
    this.s.anchors++;
    this.s.anchoredBatches = this.base;
    this.s.unanchoredBatches = this.unanchored.length;
    this.s.lastAnchorAt = Date.now();
    this.s.lastTxHash = txHash;
    this.log?.info({ root: p.root, batches: p.count, txHash, blockNumber }, 'anchored');
  }

  status(): AnchorerStatus {
    return { ...this.s };
  }

  /** Stops the timer and makes one last attempt (bounded in time); what is left stays queued on disk. */
  async stop(timeoutMs = 15_000): Promise<void> {
    clearInterval(this.timer);
    // A run already under way took its snapshot before the last batches came in: let it finish, then anchor the rest.
    const final = (async () => {
      await this.running?.catch(() => undefined);
      await this.anchorNow(true);
      return this.unanchored.length === 0;
    })();
    const done = await Promise.race([final, new Promise<false>((r) => setTimeout(() => r(false), timeoutMs).unref())]);
    if (!done) this.log?.warn({ waiting: this.unanchored.length }, 'chain did not answer in time; unanchored batches stay queued for the next start');
    // A run still waiting on the chain writes nothing after this: its range is resolved at the next start.
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close();
  }
}
