/**
 * Anchors batch ids on chain: every period (default 30 s, and at shutdown) one Merkle root over
 * every batch sealed since the last anchor, in one transaction, whatever the number of devices.
 *
 * The anchor log (anchors.jsonl, on the shared append-log) is written ahead: a `pending` record
 * (the root and the ids of the batches it covers) is fsynced before the transaction is sent, an
 * `anchored` record naming that root after it is mined. After a crash or a chain outage the pending
 * root is resolved first: if this gateway's root is on chain it is recorded, otherwise it is sent
 * again. So a batch is anchored once, nothing is lost, and sealing never waits for the chain.
 *
 * Anchors name their batches by id, never by position in the index, so a torn or damaged index
 * line cannot shift which batches a root covers. Roots are this gateway's own: the contract keeps
 * them per submitter, and only Anchored events from this gateway's account are adopted, so
 * another gateway that sends the same root first (front-running) neither blocks nor hijacks it.
 *
 * A patient the Registry does not bind to this gateway holds back only that patient's batches:
 * the others are anchored, and the held ones are retried each period (status `heldPatients`).
 */
import type { Logger } from 'pino';
import { buildBatchTree } from '@vitalgate/contracts';
import { AppendLog, readLog } from '@vitalgate/protocol/durable';
import type { BatchRecord } from '../store/batch-index.js';
import type { ChainLink } from './chain-link.js';

interface AnchorSpan { root: string; count: number; firstTs: number; lastTs: number }
export type AnchorLogLine =
  | AnchorSpan & { type: 'pending'; ids: string[]; at: number }
  | AnchorSpan & { type: 'anchored'; txHash: string; blockNumber: number; blockTimestamp: number; gateway?: string };

/** Lines written before anchors named their batches: a range of index positions. */
type LegacyLine = AnchorSpan & { type: 'pending' | 'anchored'; from: number; to: number; txHash?: string; blockNumber?: number; blockTimestamp?: number };

/** One root as the log knows it: the batches it covers and, once mined, where. */
export interface AnchorEntry extends AnchorSpan {
  ids: string[];
  mined?: { txHash: string; blockNumber: number; blockTimestamp: number };
}

export interface AnchorerStatus {
  anchors: number;
  anchoredBatches: number;
  unanchoredBatches: number;
  /** Patients whose batches wait because the Registry does not (yet) bind them to this gateway. */
  heldPatients?: string[];
  lastAnchorAt?: number;
  lastTxHash?: string;
  lastError?: string;
  retryInMs?: number;
}

type Entry = Pick<BatchRecord, 'id' | 'patientId' | 'firstTs' | 'lastTs'>;

/** A root once mined, as the upload spool sends it to ingest. */
export interface MinedAnchor {
  root: string;
  ids: string[];
  txHash: string;
  blockNumber: number;
  blockTimestamp: number;
  /** When the `anchored` record became durable, ms. */
  at: number;
}

/**
 * The roots in the anchor log, oldest first, each with its batch ids. `indexed` (the index in
 * order) is only needed for lines of the older position-based format.
 */
export async function readAnchors(path: string, indexed: readonly Pick<BatchRecord, 'id'>[] = []): Promise<AnchorEntry[]> {
  const { entries } = await readLog<AnchorLogLine | LegacyLine>(path);
  const byRoot = new Map<string, AnchorEntry>();
  for (const { value: l } of entries) {
    const ids = 'ids' in l && Array.isArray(l.ids) ? l.ids : 'from' in l ? indexed.slice(l.from, l.to).map((r) => r.id) : undefined;
    let e = byRoot.get(l.root);
    if (!e) {
      if (!ids) continue;
      e = { root: l.root, count: l.count, firstTs: l.firstTs, lastTs: l.lastTs, ids };
      byRoot.set(l.root, e);
    }
    if (l.type === 'anchored' && l.txHash !== undefined) e.mined = { txHash: l.txHash, blockNumber: l.blockNumber ?? 0, blockTimestamp: l.blockTimestamp ?? 0 };
  }
  return [...byRoot.values()];
}

/** The raw records of the anchor log. */
export async function readAnchorLog(path: string): Promise<AnchorLogLine[]> {
  return (await readLog<AnchorLogLine>(path)).entries.map((e) => e.value);
}

type Pending = Extract<AnchorLogLine, { type: 'pending' }>;

export class Anchorer {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private backoffMs = 1000;
  private nextTryAt = 0;
  private readonly s: AnchorerStatus;
  /** Called with each root once its `anchored` record is durable (the upload spool queues it). */
  onMined: ((a: MinedAnchor) => void) | undefined;

  private constructor(
    private readonly chain: ChainLink,
    private log: AppendLog<AnchorLogLine> | undefined,
    readonly periodMs: number,
    /** Batches not yet under a mined root, in index order. */
    private unanchored: Entry[],
    private pending: Pending | undefined,
    anchors: number,
    anchoredBatches: number,
    private readonly logger?: Logger,
  ) {
    this.s = { anchors, anchoredBatches, unanchoredBatches: unanchored.length };
  }

  get path(): string {
    return this.log?.path ?? '';
  }

  /** `indexed` is every batch record in index order, as loaded at start. */
  static async open(chain: ChainLink, path: string, periodMs: number, indexed: readonly BatchRecord[], logger?: Logger): Promise<Anchorer> {
    const anchors = await readAnchors(path, indexed);
    const { log, tornBytes, damagedLines } = await AppendLog.open<AnchorLogLine>(path);
    if (tornBytes || damagedLines) logger?.warn({ tornBytes, damagedLines }, 'anchor log: cut off a torn last record and skipped damaged lines');
    const anchored = new Set<string>();
    let mined = 0;
    for (const a of anchors) {
      if (!a.mined) continue;
      mined++;
      for (const id of a.ids) anchored.add(id);
    }
    const last = anchors.at(-1);
    const pending: Pending | undefined = last && !last.mined
      ? { type: 'pending', root: last.root, ids: last.ids, count: last.count, firstTs: last.firstTs, lastTs: last.lastTs, at: 0 }
      : undefined;
    const unanchored = indexed.filter((r) => !anchored.has(r.id)).map(({ id, patientId, firstTs, lastTs }) => ({ id, patientId, firstTs, lastTs }));
    return new Anchorer(chain, log, periodMs, unanchored, pending, mined, anchored.size, logger);
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
    if (!this.log) throw new Error('anchor log is closed');
    await this.log.append([line]);
  }

  /** The patients the chain lets this gateway anchor for now; the others are held back and named. */
  private async anchorablePatients(patients: Iterable<string>): Promise<Set<string>> {
    const ok = new Set<string>();
    const held: string[] = [];
    for (const p of patients) {
      try {
        await this.chain.ensurePatient(p);
        ok.add(p);
      } catch (e) {
        held.push(p);
        this.logger?.warn({ patientId: p, err: (e as Error).message.split('\n')[0]!.slice(0, 300) }, 'patient cannot be anchored yet; their batches wait, the others go on');
      }
    }
    this.s.heldPatients = held.length ? held : undefined;
    return ok;
  }

  private async run(): Promise<void> {
    try {
      if (this.pending) {
        // Written ahead by an earlier run, possibly before its patients were bound on chain.
        const ids = new Set(this.pending.ids);
        await this.anchorablePatients(new Set(this.unanchored.filter((e) => ids.has(e.id)).map((e) => e.patientId)));
        await this.resolvePending(this.pending);
      }
      if (this.unanchored.length === 0) return;
      const ready = await this.anchorablePatients(new Set(this.unanchored.map((e) => e.patientId)));
      const take = this.unanchored.filter((e) => ready.has(e.patientId));
      if (take.length === 0) throw new Error(`no batch can be anchored: patients ${[...this.s.heldPatients ?? []].join(', ')} are not bound to this gateway on chain`);
      const tree = buildBatchTree(take.map((e) => e.id));
      const pending: Pending = {
        type: 'pending', root: tree.root, ids: take.map((e) => e.id), count: take.length,
        firstTs: Math.min(...take.map((e) => e.firstTs)), lastTs: Math.max(...take.map((e) => e.lastTs)), at: Date.now(),
      };
      await this.write(pending);
      this.pending = pending;
      await this.resolvePending(pending);
      if (this.s.heldPatients) throw new Error(`patients ${this.s.heldPatients.join(', ')} are not bound to this gateway on chain; their batches wait`);
      this.backoffMs = 1000;
      this.nextTryAt = 0;
      this.s.lastError = undefined;
      this.s.retryInMs = undefined;
    } catch (e) {
      const msg = (e as Error).message.split('\n')[0]!.slice(0, 300);
      this.s.lastError = msg;
      this.s.retryInMs = this.backoffMs;
      this.nextTryAt = Date.now() + this.backoffMs;
      this.logger?.warn({ err: msg, retryInMs: this.backoffMs, waiting: this.unanchored.length }, 'anchoring failed; batches stay queued');
      this.backoffMs = Math.min(this.backoffMs * 2, 60_000);
    }
  }

  /**
   * Gets a written-ahead root onto the chain (or finds this gateway's own record of it there) and
   * records it. A record of the same root by another account is not ours and is ignored.
   */
  private async resolvePending(p: Pending): Promise<void> {
    const anchor = this.chain.contracts.dataAnchor;
    const self = this.chain.address;
    let txHash: string;
    let blockNumber: number;
    if (await anchor.isRecorded(self, p.root)) {
      const ev = (await anchor.queryFilter(anchor.filters.Anchored(p.root, self), this.chain.deployment.deployedAtBlock)).at(0);
      if (!ev) throw new Error(`root ${p.root} is recorded for this gateway but its Anchored event was not found`);
      txHash = ev.transactionHash;
      blockNumber = ev.blockNumber;
    } else {
      const tx = await anchor.anchor(p.root, p.count, p.firstTs, p.lastTs, `vitalgate:${self.toLowerCase()}/anchor/${p.root.slice(2, 18)}`);
      const receipt = await tx.wait();
      if (!receipt || receipt.status !== 1) throw new Error(`anchor transaction ${tx.hash} failed`);
      txHash = receipt.hash;
      blockNumber = receipt.blockNumber;
    }
    const block = await this.chain.provider.getBlock(blockNumber);
    await this.write({ type: 'anchored', root: p.root, count: p.count, firstTs: p.firstTs, lastTs: p.lastTs, txHash, blockNumber, blockTimestamp: block?.timestamp ?? 0, gateway: self });
    this.onMined?.({ root: p.root, ids: p.ids, txHash, blockNumber, blockTimestamp: block?.timestamp ?? 0, at: Date.now() });
    const done = new Set(p.ids);
    this.unanchored = this.unanchored.filter((e) => !done.has(e.id));
    this.pending = undefined;
    this.s.anchors++;
    this.s.anchoredBatches += done.size;
    this.s.unanchoredBatches = this.unanchored.length;
    this.s.lastAnchorAt = Date.now();
    this.s.lastTxHash = txHash;
    this.logger?.info({ root: p.root, batches: p.count, txHash, blockNumber }, 'anchored');
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
    if (!done) this.logger?.warn({ waiting: this.unanchored.length }, 'chain did not answer in time; unanchored batches stay queued for the next start');
    // A run still waiting on the chain writes nothing after this: its root is resolved at the next start.
    const log = this.log;
    this.log = undefined;
    await log?.close();
  }
}
