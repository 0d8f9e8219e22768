/**
 * Durable aedes persistence for a single broker: the in-memory store (memory-persistence.ts) plus
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
 *   same order give the same state (a call that failed then fails again now).
 * - Group commit: records appended during one event-loop turn, and those arriving while a write is
 *   in flight, go out in a single write + fdatasync. Calls that precede an acknowledgement to some
 *   client resolve only once their record is on disk: enqueueing a message for offline sessions,
 *   retained messages, (un)subscriptions, wills, inbound QoS 2 packets. Recording a packet id on
 *   send (outgoingUpdate) and removing an acknowledged message (outgoingClearMessageId) do not
 *   wait: if the crash takes them, the message is delivered again, which QoS 1 allows.
 * - With the delivery guards (delivery-guards.ts, on by default) aedes publishes a QoS 1 message
 *   before it PUBACKs it, so a PUBACK means the message is in the fsync'd journal.
 * - A torn last record (crash mid-write) fails its CRC and is cut off on open.
 * - Compaction: on open, and whenever the journal has grown past `compactBytes` and 4× its size
 *   after the last compaction, the state is rewritten as the shortest list of records that
 *   rebuilds it (journal.tmp, fsync, rename, fsync dir). Online compaction replays the journal up
 *   to a cut point into a scratch store, writes that out while writes go on, then copies the
 *   records after the cut and switches files.
 * - A LOCK file (holding the pid) keeps a second broker off the same directory.
 */
import { closeSync, openSync, fsyncSync } from 'node:fs';
import { chmod, mkdir, open, readFile, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { deserialize, serialize } from 'node:v8';
import { crc32 } from 'node:zlib';
import { withDeliveryGuards } from './delivery-guards.js';
import { MemoryPersistence, type PersistedPacket } from './memory-persistence.js';

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
interface Sub {
  topic: string;
  qos: number;
  [k: string]: unknown;
}

/** A journal record: one mutating call with its arguments (client ids instead of client objects). */
type Rec =
  | ['ret', PersistedPacket]
  | ['sub', string, Sub[]]
  | ['unsub', string, string[]]
  | ['cleanSubs', string]
  | ['enq', string[], PersistedPacket]
  | ['upd', string, PersistedPacket]
  | ['clr', string, PersistedPacket]
  | ['inStore', string, PersistedPacket]
  | ['inDel', string, PersistedPacket]
  | ['inClean', string]
  | ['will', string, PersistedPacket]
  | ['delWill', string];

const MAGIC = Buffer.from('VGJRNL01');
const FRAME_HEAD = 8; // u32 length, u32 crc32, little endian
const JOURNAL = 'journal';
const DEFAULT_COMPACT_BYTES = 64 * 1024 * 1024;

/**
 * A record's data: packets reach us as aedes objects carrying callbacks (QoSPacket.writeCallback),
 * which cannot be serialized and do not belong in the journal; only data fields are kept.
 */
function dataOnly(v: unknown): unknown {
  if (v === null || typeof v !== 'object' || Buffer.isBuffer(v) || ArrayBuffer.isView(v)) return v;
  if (Array.isArray(v)) return v.map(dataOnly);
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (typeof x !== 'function') out[k] = dataOnly(x);
  return out;
}

function frame(rec: Rec): Buffer {
  const body = serialize(dataOnly(rec));
  const out = Buffer.allocUnsafe(FRAME_HEAD + body.length);
  out.writeUInt32LE(body.length, 0);
  out.writeUInt32LE(crc32(body), 4);
  body.copy(out, FRAME_HEAD);
  return out;
}

/** The records in `buf` and the length of its valid prefix (a torn or corrupt tail is dropped). */
function parseJournal(buf: Buffer): { records: Rec[]; validLength: number } {
  if (buf.length < MAGIC.length || !buf.subarray(0, MAGIC.length).equals(MAGIC)) {
    if (buf.length === 0) return { records: [], validLength: 0 };
    throw new Error('not a vitalgate broker journal (bad header)');
  }
  const records: Rec[] = [];
  let off = MAGIC.length;
  while (off + FRAME_HEAD <= buf.length) {
    const len = buf.readUInt32LE(off);
    const crc = buf.readUInt32LE(off + 4);
    if (off + FRAME_HEAD + len > buf.length) break;
    const body = buf.subarray(off + FRAME_HEAD, off + FRAME_HEAD + len);
    if (crc32(body) !== crc) break;
    records.push(deserialize(body) as Rec);
    off += FRAME_HEAD + len;
  }
  return { records, validLength: off };
}

async function writeFully(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    done += bytesWritten;
  }
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Appends frames with group commit; runs exclusive tasks (file switch) between batches. */
class Journal {
  #fh: FileHandle;
  #size: number;
  #pending: Buffer[] = [];
  #waiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  #tasks: Array<() => Promise<void>> = [];
  #running = false;
  #idle: Array<() => void> = [];
  #failed: Error | undefined;

  constructor(
    fh: FileHandle,
    size: number,
    readonly fsync: boolean,
    readonly onFlushed: () => void,
  ) {
    this.#fh = fh;
    this.#size = size;
  }

  get size(): number {
    return this.#size;
  }

  get failed(): Error | undefined {
    return this.#failed;
  }

  /** Queues a record; with `durable`, the promise resolves once it is written (and synced). */
  append(rec: Rec, durable: boolean): Promise<void> | undefined {
    if (this.#failed) return durable ? Promise.reject(this.#failed) : undefined;
    this.#pending.push(frame(rec));
    const p = durable ? new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject })) : undefined;
    this.#kick();
    return p;
  }

  /** Runs `task` with no write in progress. */
  exclusive(task: () => Promise<void>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#tasks.push(() => task().then(resolve, reject));
      this.#kick();
    });
  }

  /** Resolves when everything queued so far is written. */
  drain(): Promise<void> {
    if (!this.#running && this.#pending.length === 0 && this.#tasks.length === 0) return Promise.resolve();
    return new Promise((r) => this.#idle.push(r));
  }

  replaceFile(fh: FileHandle, size: number): FileHandle {
    const old = this.#fh;
    this.#fh = fh;
    this.#size = size;
    return old;
  }

  get handle(): FileHandle {
    return this.#fh;
  }

  #kick(): void {
    if (this.#running) return;
    this.#running = true;
    // One turn's worth of records per batch: a socket chunk of publishes lands in one write.
    setImmediate(() => void this.#run());
  }

  async #run(): Promise<void> {
    while (this.#pending.length || this.#tasks.length) {
      const task = this.#tasks.shift();
      if (task) {
        await task();
        continue;
      }
      const bufs = this.#pending;
      const waiters = this.#waiters;
      this.#pending = [];
      this.#waiters = [];
      if (this.#failed) {
        for (const w of waiters) w.reject(this.#failed);
        continue;
      }
      try {
        const buf = bufs.length === 1 ? bufs[0]! : Buffer.concat(bufs);
        await writeFully(this.#fh, buf, this.#size);
        this.#size += buf.length;
        if (this.fsync) await this.#fh.datasync();
        for (const w of waiters) w.resolve();
      } catch (e) {
        this.#failed = new Error(`broker journal write failed: ${(e as Error).message}`);
        for (const w of waiters) w.reject(this.#failed);
      }
      this.onFlushed();
    }
    this.#running = false;
    for (const r of this.#idle.splice(0)) r();
  }
}

/** Directories this process has open, so a stale LOCK with our own pid can be told from a live one. */
const openDirs = new Set<string>();

async function takeLock(dir: string): Promise<string> {
  const lock = join(dir, 'LOCK');
  if (openDirs.has(dir)) throw new Error(`${dir} is already open in this process`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(lock, String(process.pid), { flag: 'wx', mode: 0o600 });
      openDirs.add(dir);
      return lock;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number((await readFile(lock, 'utf8').catch(() => '')).trim());
      let alive = false;
      if (pid > 0 && pid !== process.pid) {
        try {
          process.kill(pid, 0);
          alive = true;
        } catch (err) {
          alive = (err as NodeJS.ErrnoException).code === 'EPERM';
        }
      }
      if (alive) throw new Error(`${dir} is in use by another broker (pid ${pid}); one broker per persistence directory`);
      await rm(lock, { force: true }); // left behind by a process that died (or by us, closed)
    }
  }
  throw new Error(`could not lock ${dir}`);
}

const streamToArray = async <T>(s: Readable): Promise<T[]> => {
  const out: T[] = [];
  for await (const x of s) out.push(x as T);
  return out;
};

/** Identity stand-in for a queued PUBREL while a snapshot is replayed (see snapshotRecords). */
const PUBREL_PLACEHOLDER = '\u0000pubrel';

export class FilePersistence extends MemoryPersistence {
  #journal: Journal | undefined;
  /** Whose will records are being replayed: the base class stamps its broker's id on a will. */
  readonly #replayBroker = { id: '' };
  // What a snapshot must walk (the base class keeps its maps private).
  readonly #retainedTopics = new Set<string>();
  readonly #subClients = new Set<string>();
  readonly #outClients = new Set<string>();
  readonly #incoming = new Map<string, Set<number>>();
  #dir = '';
  #lock = '';
  #compactBytes = DEFAULT_COMPACT_BYTES;
  /** Journal size right after the last compaction. */
  #baseSize = 0;
  #compacting: Promise<void> | undefined;
  #closed = false;

  /** Use openFilePersistence(). */
  constructor() {
    super();
    void super.setup(this.#replayBroker);
  }

  /** Applies one record to the memory store (synchronously; the promise carries its result). */
  #apply(rec: Rec): Promise<unknown> {
    switch (rec[0]) {
      case 'ret':
        if (rec[1].payload && (rec[1].payload as Buffer).length === 0) this.#retainedTopics.delete(rec[1].topic as string);
        else this.#retainedTopics.add(rec[1].topic as string);
        return super.storeRetained(rec[1]);
      case 'sub':
        this.#subClients.add(rec[1]);
        return super.addSubscriptions({ id: rec[1] }, rec[2]);
      case 'unsub':
        return super.removeSubscriptions({ id: rec[1] }, rec[2]);
      case 'cleanSubs':
        return super.cleanSubscriptions({ id: rec[1] });
      case 'enq':
        for (const id of rec[1]) this.#outClients.add(id);
        return super.outgoingEnqueueCombi(
          rec[1].map((clientId) => ({ clientId })),
          rec[2],
        );
      case 'upd':
        return super.outgoingUpdate({ id: rec[1] }, rec[2]);
      case 'clr':
        return super.outgoingClearMessageId({ id: rec[1] }, rec[2]);
      case 'inStore': {
        let ids = this.#incoming.get(rec[1]);
        if (!ids) this.#incoming.set(rec[1], (ids = new Set()));
        ids.add(rec[2].messageId as number);
        return super.incomingStorePacket({ id: rec[1] }, rec[2]);
      }
      case 'inDel':
        this.#incoming.get(rec[1])?.delete(rec[2].messageId as number);
        return super.incomingDelPacket({ id: rec[1] }, rec[2]);
      case 'inClean':
        this.#incoming.delete(rec[1]);
        return super.cleanIncoming({ id: rec[1] });
      case 'will':
        // Replaying: put the will back under the broker that stored it.
        this.#replayBroker.id = rec[2].brokerId as string;
        return super.putWill({ id: rec[1] }, rec[2]);
      case 'delWill':
        return super.delWill({ id: rec[1] });
    }
  }

  /** A mutating call: applied now, journalled in the same tick; `durable` waits for the disk. */
  #do<T>(rec: Rec, durable: boolean): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('persistence is closed'));
    const result = this.#apply(rec) as Promise<T>;
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

  /** The records that rebuild the current state, in an order replay accepts. */
  async snapshotRecords(): Promise<Rec[]> {
    const recs: Rec[] = [];
    for (const will of await streamToArray<PersistedPacket>(super.streamWill({}))) recs.push(['will', will.clientId as string, will]);
    for (const topic of [...this.#retainedTopics]) {
      const found = (await streamToArray<PersistedPacket>(super.createRetainedStream(topic))).filter((p) => p.topic === topic);
      if (found.length) recs.push(['ret', found[0]!]);
      else this.#retainedTopics.delete(topic);
    }
    for (const id of [...this.#subClients]) {
      const subs = (await super.subscriptionsByClient({ id })) as Sub[];
      if (subs.length) recs.push(['sub', id, subs]);
      else this.#subClients.delete(id);
    }
    for (const id of [...this.#outClients]) {
      const queue = await streamToArray<PersistedPacket>(super.outgoingStream({ id }));
      if (queue.length === 0) {
        this.#outClients.delete(id);
        continue;
      }
      // 1. Every entry in queue order (a queued PUBREL as a placeholder publish with its own identity);
      //    enqueueing resets packet ids.
      const placeholders: Array<[PersistedPacket, PersistedPacket]> = [];
      queue.forEach((p, i) => {
        if (p.brokerId === undefined && p.cmd !== 'publish') {
          const ph: PersistedPacket = { cmd: 'publish', brokerId: PUBREL_PLACEHOLDER, brokerCounter: i + 1, topic: '', payload: Buffer.alloc(0), qos: 2, retain: false, dup: false };
          placeholders.push([ph, p]);
          recs.push(['enq', [id], ph]);
        } else recs.push(['enq', [id], p]);
      });
      // 2. Each placeholder takes its PUBREL's packet id and is then replaced by it (a PUBREL
      //    replaces the queued publish with its id from another broker, which is how it got there).
      for (const [ph, pubrel] of placeholders) {
        recs.push(['upd', id, { ...ph, messageId: pubrel.messageId }]);
        recs.push(['upd', id, pubrel]);
      }
      // 3. Sent publishes get their packet ids back, looked up by identity. A message queued twice for
      //    the same client (overlapping subscriptions) can only be told apart by position, so only
      //    its first copy keeps its id; the others are resent with fresh ids after the restart.
      const seen = new Set<string>();
      for (const p of queue) {
        if (p.brokerId === undefined || typeof p.messageId !== 'number') continue;
        const identity = `${p.brokerId}\u0000${p.brokerCounter}`;
        if (seen.has(identity)) continue;
        seen.add(identity);
        recs.push(['upd', id, p]);
      }
    }
    for (const [id, ids] of [...this.#incoming]) {
      for (const messageId of [...ids]) {
        const p = await super.incomingGetPacket({ id }, { messageId }).catch(() => undefined);
        if (p) recs.push(['inStore', id, p]);
        else ids.delete(messageId);
      }
      if (ids.size === 0) this.#incoming.delete(id);
    }
    return recs;
  }

  /** Replays records into this (journal-less) store. */
  async #replay(records: Rec[]): Promise<void> {
    let n = 0;
    for (const rec of records) {
      await this.#apply(rec).catch(() => undefined); // failed then, fails the same way now
      // Let other work run during a long replay (online compaction).
      if (++n % 5000 === 0) await new Promise((r) => setImmediate(r));
    }
  }

  /** Writes `records` as a complete journal at `path` (synced). Returns its size. */
  static async #writeSnapshot(path: string, records: Rec[], fsync: boolean): Promise<{ fh: FileHandle; size: number }> {
    // Queued QoS 1 payloads are plaintext readings: only the broker's own user may read them.
    const fh = await open(path, 'w+', 0o600);
    await fh.chmod(0o600);
    const buf = Buffer.concat([MAGIC, ...records.map(frame)]);
    await writeFully(fh, buf, 0);
    if (fsync) await fh.datasync();
    return { fh, size: buf.length };
  }

  /** Opens (replays, compacts) the journal in `opts.dir`. */
  static async open(opts: FilePersistenceOptions): Promise<FilePersistence> {
    const dir = opts.dir;
    const fsync = opts.fsync ?? true;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    // An existing directory may have been made with a laxer umask; the journal holds readings.
    if (((await stat(dir)).mode & 0o077) !== 0) await chmod(dir, 0o700);
    const lock = await takeLock(dir);
    try {
      const path = join(dir, JOURNAL);
      const buf = await readFile(path).catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') return Buffer.alloc(0);
        throw e;
      });
      const { records } = parseJournal(buf);
      const p = new FilePersistence();
      p.#dir = dir;
      p.#lock = lock;
      p.#compactBytes = opts.compactBytes ?? DEFAULT_COMPACT_BYTES;
      await p.#replay(records);
      // Compaction on open: the state as the fewest records, swapped in atomically.
      const tmp = join(dir, `${JOURNAL}.tmp`);
      const { fh, size } = await FilePersistence.#writeSnapshot(tmp, await p.snapshotRecords(), fsync);
      await rename(tmp, path);
      fsyncDir(dir);
      p.#baseSize = size;
      p.#journal = new Journal(fh, size, fsync, () => p.#maybeCompact());
      return p;
    } catch (e) {
      openDirs.delete(dir);
      await rm(lock, { force: true });
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
    const path = join(this.#dir, JOURNAL);
    const tmp = join(this.#dir, `${JOURNAL}.tmp`);
    let cut = 0;
    let prefix = Buffer.alloc(0);
    await j.exclusive(async () => {
      cut = j.size;
      prefix = Buffer.allocUnsafe(cut);
      let off = 0;
      while (off < cut) {
        const { bytesRead } = await j.handle.read(prefix, off, cut - off, off);
        if (bytesRead === 0) break;
        off += bytesRead;
      }
    });
    const scratch = new FilePersistence();
    await scratch.#replay(parseJournal(prefix).records);
    const { fh, size } = await FilePersistence.#writeSnapshot(tmp, await scratch.snapshotRecords(), j.fsync);
    try {
      await j.exclusive(async () => {
        const tail = Buffer.allocUnsafe(j.size - cut);
        let off = 0;
        while (off < tail.length) {
          const { bytesRead } = await j.handle.read(tail, off, tail.length - off, cut + off);
          if (bytesRead === 0) throw new Error('journal shorter than expected');
          off += bytesRead;
        }
        await writeFully(fh, tail, size);
        if (j.fsync) await fh.datasync();
        await rename(tmp, path);
        fsyncDir(this.#dir);
        const old = j.replaceFile(fh, size + tail.length);
        this.#baseSize = size;
        await old.close();
      });
    } catch (e) {
      await fh.close().catch(() => undefined);
      await rm(tmp, { force: true });
      throw e;
    }
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
    if (this.#lock) {
      await rm(this.#lock, { force: true });
      openDirs.delete(this.#dir);
    }
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
