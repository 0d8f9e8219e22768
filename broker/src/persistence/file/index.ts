/**
 * Durable aedes persistence for a single broker: the in-memory store (../memory.ts) plus
 * an append-only journal of every change to it, so persistent sessions, their QoS 1/2 queues,
 * subscriptions, retained messages, wills and inbound QoS 2 state survive a restart or a SIGKILL.
 *
 * Why not a library: aedes-persistence-level (9.x, promise API, LevelDB) was the candidate. It keys
 * a client's queue by brokerId then brokerCounter, so after a restart (a new broker id) the backlog
 * comes back sorted by broker id rather than in publish order; it also never syncs (writes reach
 * the OS, not the disk) and needs a native addon. This file needs neither and keeps queue order.
 *
 * How:
 * - Each mutating call is applied to the memory store (whose effects are synchronous) and, in the
 *   same tick, appended to the journal as a record [op, ...args] (v8-serialized, framed with its
 *   length and CRC-32). On open the journal is replayed into a fresh store: the same calls in the
 *   same order give the same state (a call that failed then fails again now). Frames: format.ts;
 *   replay and snapshots: replay.ts.
 * - Group commit (journal.ts): records appended during one event-loop turn, and those arriving while a write is
 *   in flight, go out in a single write + fdatasync. Calls that precede an acknowledgement to some
 *   client resolve only once their record is on disk: enqueueing a message for offline sessions,
 *   retained messages, (un)subscriptions, wills, inbound QoS 2 packets. Recording a packet id on
 *   send (outgoingUpdate) and removing an acknowledged message (outgoingClearMessageId) do not
 *   wait: if the crash takes them, the message is delivered again, which QoS 1 allows.
 * - With the delivery guards (../../guards/delivery-guards.ts, on by default) aedes publishes a QoS 1 message
 *   before it PUBACKs it, so a PUBACK means the message is in the fsync'd journal.
 * - A torn last record (crash mid-write) fails its CRC and is cut off on open.
 * - Compaction (journal.ts): on open, and whenever the journal has grown past `compactBytes` and 4× its size
 *   after the last compaction, the state is rewritten as the shortest list of records that
 *   rebuilds it (journal.tmp, fsync, rename, fsync dir). Online compaction replays the journal up
 *   to a cut point into a scratch store, writes that out while writes go on, then copies the
 *   records after the cut and switches files.
 * - A LOCK file (lock.ts: pid and process start time) keeps a second broker off the same directory.
 */
import { chmod, mkdir, stat } from 'node:fs/promises';
import type { DirLock } from '@vitalgate/protocol/durable';
import { withDeliveryGuards } from '../../guards/delivery-guards.js';
import type { PersistedPacket } from '../memory.js';
import type { Rec } from './format.js';
import { compactJournal, readJournal, rewriteJournal, type Journal } from './journal.js';
import { lockPersistenceDir, unlockPersistenceDir } from './lock.js';
import { ReplayStore } from './replay.js';

export interface FilePersistenceOptions {
  /** Directory for the journal (created if missing). One broker per directory. */
  dir: string;
  /** fdatasync every batch (default true). Off, a record survives a process crash, not a power cut. */
  fsync?: boolean;
  /** Compact online once the journal is larger than this and 4× its last compacted size. Default 64 MiB. */
  compactBytes?: number;
  /**
   * Install delivery-guards.ts (CONNACK before any publish on a restored session; QoS 1 stored
   * before PUBACK). Default true; without them a PUBACK does not imply the message is on disk.
   */
  deliveryGuards?: boolean;
}

interface ClientRef {
  id: string;
}

const DEFAULT_COMPACT_BYTES = 64 * 1024 * 1024;

export class FilePersistence extends ReplayStore {
  #journal: Journal | undefined;
  #dir = '';
  #lock: DirLock | undefined;
  #compactBytes = DEFAULT_COMPACT_BYTES;
  /** Journal size right after the last compaction. */
  #baseSize = 0;
  #compacting: Promise<void> | undefined;
  #closed = false;

  /** Use openFilePersistence(). */
  constructor() {
    super();
  }

  /** A mutating call: applied now, journalled in the same tick; `durable` waits for the disk. */
  #do<T>(rec: Rec, durable: boolean): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('persistence is closed'));
    const result = this.apply(rec) as Promise<T>;
    const written = this.#journal?.append(rec, durable);
    if (!written) return result;
    // Swallow the apply's own rejection only after both settle, so neither goes unhandled.
    return Promise.allSettled([result, written]).then(([r, w]) => {
      if (w.status === 'rejected') throw w.reason;
      if (r.status === 'rejected') throw r.reason;
      return r.value;
    });
  }

  override async setup(broker: unknown): Promise<void> {
    await super.setup(broker);
  }

  override storeRetained(packet: PersistedPacket): Promise<void> {
    return this.#do(['ret', packet], true);
  }

  override addSubscriptions(client: ClientRef, subs: Array<{ topic: string; qos: number }>): Promise<void> {
    return this.#do(['sub', client.id, subs], true);
  }

  override removeSubscriptions(client: ClientRef, topics: string[]): Promise<void> {
    return this.#do(['unsub', client.id, topics], true);
  }

  override cleanSubscriptions(client: ClientRef): Promise<void> {
    return this.#do(['cleanSubs', client.id], true);
  }

  override outgoingEnqueue(sub: { clientId: string }, packet: PersistedPacket): Promise<void> {
    return this.#do(['enq', [sub.clientId], packet], true);
  }

  override outgoingEnqueueCombi(subs: Array<{ clientId: string }>, packet: PersistedPacket): Promise<void> {
    if (!subs || subs.length === 0) return Promise.resolve();
    return this.#do(
      [
        'enq',
        subs.map((s) => s.clientId),
        packet,
      ],
      true,
    );
  }

  override outgoingUpdate(client: ClientRef, packet: PersistedPacket): Promise<void> {
    return this.#do(['upd', client.id, packet], false);
  }

  override outgoingClearMessageId(client: ClientRef, packet: PersistedPacket): Promise<PersistedPacket | undefined> {
    if (packet == null) return Promise.resolve(undefined);
    // Only what the lookup reads: a message id, or a message's identity.
    const key: PersistedPacket = { messageId: packet.messageId, brokerId: packet.brokerId, brokerCounter: packet.brokerCounter };
    return this.#do(['clr', client.id, key], false);
  }

  override incomingStorePacket(client: ClientRef, packet: PersistedPacket): Promise<void> {
    return this.#do(['inStore', client.id, packet], true);
  }

  override incomingDelPacket(client: ClientRef, packet: PersistedPacket): Promise<void> {
    return this.#do(['inDel', client.id, { messageId: packet.messageId }], true);
  }

  override cleanIncoming(client: ClientRef): Promise<void> {
    return this.#do(['inClean', client.id], true);
  }

  override putWill(client: ClientRef, packet: PersistedPacket): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('persistence is closed'));
    // The base stamps brokerId (the live broker's) and clientId on the packet; journal it after.
    const result = super.putWill(client, packet);
    const written = this.#journal?.append(['will', client.id, packet], true);
    return written ? Promise.all([result, written]).then(() => undefined) : result;
  }

  override delWill(client: ClientRef): Promise<PersistedPacket | undefined> {
    return this.#do(['delWill', client.id], true);
  }

  /** Bytes in the journal file now (grows until the next compaction). */
  journalBytes(): number {
    return this.#journal?.size ?? 0;
  }

  /** Opens (replays, compacts) the journal in `opts.dir`. */
  static async open(opts: FilePersistenceOptions): Promise<FilePersistence> {
    const dir = opts.dir;
    const fsync = opts.fsync ?? true;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    // An existing directory may have been made with a laxer umask; the journal holds readings.
    if (((await stat(dir)).mode & 0o077) !== 0) await chmod(dir, 0o700);
    const lock = await lockPersistenceDir(dir);
    try {
      const records = await readJournal(dir);
      const p = new FilePersistence();
      p.#dir = dir;
      p.#lock = lock;
      p.#compactBytes = opts.compactBytes ?? DEFAULT_COMPACT_BYTES;
      await p.replay(records);
      // Compaction on open: the state as the fewest records, swapped in atomically.
      p.#journal = await rewriteJournal(dir, await p.snapshotRecords(), fsync, () => p.#maybeCompact());
      p.#baseSize = p.#journal.size;
      return p;
    } catch (e) {
      await unlockPersistenceDir(lock);
      throw e;
    }
  }

  #maybeCompact(): void {
    const j = this.#journal;
    if (!j || this.#compacting || this.#closed || j.failed) return;
    if (j.size < this.#compactBytes || j.size < 4 * this.#baseSize) return;
    this.compact().catch((e: Error) => process.emitWarning(`broker journal compaction failed (will retry later): ${e.message}`));
  }

  /**
   * Rewrites the journal as a snapshot while writes continue: replays the journal up to a cut point
   * into a scratch store, writes that store's snapshot to journal.tmp, then (between two batches)
   * appends the records written after the cut, syncs, renames it over the journal and switches.
   */
  compact(): Promise<void> {
    this.#compacting ??= this.#compactNow().finally(() => (this.#compacting = undefined));
    return this.#compacting;
  }

  async #compactNow(): Promise<void> {
    const j = this.#journal;
    if (!j) return;
    await compactJournal(j, this.#dir, async (records) => {
      const scratch = new ReplayStore();
      await scratch.replay(records);
      return scratch.snapshotRecords();
    }, (size) => {
      this.#baseSize = size;
    });
  }

  override async destroy(): Promise<void> {
    if (this.#closed) throw new Error('destroyed called twice!');
    this.#closed = true;
    await this.#compacting?.catch(() => undefined);
    const j = this.#journal;
    if (j) {
      await j.drain();
      await j.handle.close();
    }
    if (this.#lock) await unlockPersistenceDir(this.#lock);
    await super.destroy();
  }
}

/**
 * Opens the durable persistence in `opts.dir` (replaying and compacting its journal) and returns
 * it ready for startBroker({ persistence }). The caller owns it: destroy() it after the broker
 * has closed.
 */
export async function openFilePersistence(opts: FilePersistenceOptions): Promise<FilePersistence> {
  const p = await FilePersistence.open(opts);
  return opts.deliveryGuards === false ? p : withDeliveryGuards(p);
}
