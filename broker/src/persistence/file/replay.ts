/**
 * Replay: the in-memory store (memory.ts) rebuilt from journal records, and the way back, the
 * shortest list of records that rebuilds its current state (a snapshot, which compaction writes).
 * Replaying the same calls in the same order gives the same state; a call that failed then fails
 * the same way now.
 */
import { Readable } from 'node:stream';
import { MemoryPersistence, type PersistedPacket } from '../memory.js';
import type { Rec, Sub } from './format.js';

const streamToArray = async <T>(s: Readable): Promise<T[]> => {
  const out: T[] = [];
  for await (const x of s) out.push(x as T);
  return out;
};

/** Identity stand-in for a queued PUBREL while a snapshot is replayed (see snapshotRecords). */
const PUBREL_PLACEHOLDER = '\u0000pubrel';

/** The memory store, fed by journal records, that can write itself out as records again. */
export class ReplayStore extends MemoryPersistence {
  /** Whose will records are being replayed: the base class stamps its broker's id on a will. */
  readonly #replayBroker = { id: '' };
  // What a snapshot must walk (the base class keeps its maps private).
  readonly #retainedTopics = new Set<string>();
  readonly #subClients = new Set<string>();
  readonly #outClients = new Set<string>();
  readonly #incoming = new Map<string, Set<number>>();

  constructor() {
    super();
    void super.setup(this.#replayBroker);
  }

  /** Applies one record to the memory store (synchronously; the promise carries its result). */
  protected apply(rec: Rec): Promise<unknown> {
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

  /** Replays records into this store (as at open, or into a scratch store for compaction). */
  async replay(records: readonly Rec[]): Promise<void> {
    let n = 0;
    for (const rec of records) {
      await this.apply(rec).catch(() => undefined); // failed then, fails the same way now
      // Let other work run during a long replay (online compaction).
      if (++n % 5000 === 0) await new Promise((r) => setImmediate(r));
    }
  }
}
