/**
 * In-memory aedes persistence whose outgoing (QoS > 0, persistent-session) store costs O(1) per
 * message instead of O(backlog).
 *
 * Why: aedes-persistence's memory store keeps each client's outgoing queue as an array and finds
 * the packet to update (on send) or remove (on PUBACK/PUBCOMP) by scanning it from the front, then
 * splices it out. A gateway with a persistent session at 14k msg/s always has a backlog, so every
 * message costs O(backlog) and the broker collapses once it falls behind (a third of its CPU was in
 * `outgoingClearMessageId`).
 *
 * What: everything except the outgoing queue is inherited unchanged from aedes-persistence's own
 * memory class (`asyncPersistence.js`, the one aedes 1.x wraps by default): retained messages,
 * subscriptions and their trie, incoming QoS 2 packets, wills, broadcast, destroy. Its outgoing
 * store lives in a private `#outgoing` field, so the five outgoing methods are overridden
 * together on a store of our own; the base's `#outgoing` stays empty.
 *
 * Per client the queue is an insertion-ordered Map seq → entry (Map iteration order is the
 * delivery order, and delete is O(1)), plus two indexes onto the same entries:
 * brokerId → brokerCounter (a message's identity, which `outgoingUpdate` looks up) and messageId
 * (which PUBACK/PUBREC/PUBCOMP carry). An index key normally has one entry; a few packets can share
 * one (a message enqueued twice for overlapping subscriptions, a packet id reused after 65535 wraps
 * or kept across a reconnect), so lookups take the lowest-seq match: the first in queue order,
 * which is what the original front-to-back scan finds. Two deliberate differences from the original,
 * both where its scan picks an unrelated packet, are described at outgoingUpdate and
 * outgoingClearMessageId.
 *
 * aedes 1.x calls persistences promise-style only, so this class is handed to aedes directly,
 * without aedes-persistence's CallBackPersistence wrapper.
 */
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';

/** The packet fields the outgoing store reads; everything else is carried along untouched. */
export interface PersistedPacket {
  cmd?: string;
  brokerId?: string;
  brokerCounter?: number;
  messageId?: number;
  [field: string]: unknown;
}

export interface MemoryPersistenceOptions {
  /** aedes-persistence's option for sharing subscriptions between brokers over the mq. */
  broadcastSubscriptions?: boolean;
}

interface ClientRef {
  id: string;
}

/**
 * The aedes persistence interface (promise style), as implemented by aedes-persistence's memory
 * class. Loosely typed: aedes' own typings declare `persistence` as `any`.
 */
export interface AedesAsyncPersistence {
  setup(broker: unknown): Promise<void>;
  destroy(): Promise<void>;
  storeRetained(packet: PersistedPacket): Promise<void>;
  createRetainedStream(pattern: string): Readable;
  createRetainedStreamCombi(patterns: string[]): Readable;
  addSubscriptions(client: ClientRef, subs: Array<{ topic: string; qos: number }>): Promise<void>;
  removeSubscriptions(client: ClientRef, topics: string[]): Promise<void>;
  subscriptionsByClient(client: ClientRef): Promise<Array<{ topic: string; qos: number }>>;
  subscriptionsByTopic(topic: string): Promise<Array<{ clientId: string; topic: string; qos: number }>>;
  countOffline(): Promise<{ subsCount: number; clientsCount: number }>;
  cleanSubscriptions(client: ClientRef): Promise<void>;
  outgoingEnqueue(sub: { clientId: string }, packet: PersistedPacket): Promise<void>;
  outgoingEnqueueCombi(subs: Array<{ clientId: string }>, packet: PersistedPacket): Promise<void>;
  outgoingUpdate(client: ClientRef, packet: PersistedPacket): Promise<void>;
  outgoingClearMessageId(client: ClientRef, packet: PersistedPacket): Promise<PersistedPacket | undefined>;
  outgoingStream(client: ClientRef): Readable;
  incomingStorePacket(client: ClientRef, packet: PersistedPacket): Promise<void>;
  incomingGetPacket(client: ClientRef, packet: PersistedPacket): Promise<PersistedPacket>;
  incomingDelPacket(client: ClientRef, packet: PersistedPacket): Promise<void>;
  cleanIncoming(client: ClientRef): Promise<void>;
  putWill(client: ClientRef, packet: PersistedPacket): Promise<void>;
  getWill(client: ClientRef): Promise<PersistedPacket | undefined>;
  delWill(client: ClientRef): Promise<PersistedPacket | undefined>;
  streamWill(brokers?: Record<string, unknown>): Readable;
  getClientList(topic: string): Readable;
}

interface AsyncMemoryPersistenceClass {
  new (opts?: MemoryPersistenceOptions): AedesAsyncPersistence;
  /** aedes-packet's Packet, re-exported: copies a packet for storage and resets its messageId. */
  Packet: new (original: PersistedPacket) => PersistedPacket;
}

// CommonJS without typings for this deep path; required rather than imported so no ambient module
// declaration leaks into this package's emitted .d.ts.
const require = createRequire(import.meta.url);
const AsyncMemoryPersistence = require('aedes-persistence/asyncPersistence.js') as AsyncMemoryPersistenceClass;
const { Packet } = AsyncMemoryPersistence;

/** A queued packet and its position. Indexes hold entries, so a lookup needs no second Map hit. */
interface Entry {
  readonly seq: number;
  packet: PersistedPacket;
}

/**
 * An index value: the one entry with this key, or (rarely) the few that share it. A bare entry in
 * the common case saves an array per message.
 */
type Entries = Entry | Entry[];

function addEntry<K>(index: Map<K, Entries>, key: K, entry: Entry): void {
  const cur = index.get(key);
  if (cur === undefined) index.set(key, entry);
  else if (Array.isArray(cur)) cur.push(entry);
  else index.set(key, [cur, entry]);
}

function deleteEntry<K>(index: Map<K, Entries>, key: K, entry: Entry): void {
  const cur = index.get(key);
  if (cur === entry) index.delete(key);
  else if (Array.isArray(cur)) {
    const i = cur.indexOf(entry);
    if (i >= 0) cur.splice(i, 1);
    if (cur.length === 1) index.set(key, cur[0]!);
  }
}

const hasMessageId = (p: PersistedPacket): p is PersistedPacket & { messageId: number } => typeof p.messageId === 'number';

/** What a lookup accepts besides the key itself (see outgoingUpdate and outgoingClearMessageId). */
const enum Match {
  Any,
  /** same brokerId and brokerCounter as the reference packet */
  SameMessage,
  /** a different brokerId from the reference packet's */
  OtherBroker,
  /** not sent yet (no messageId) */
  Unsent,
}

function accepts(p: PersistedPacket, ref: PersistedPacket, match: Match): boolean {
  switch (match) {
    case Match.Any:
      return true;
    case Match.SameMessage:
      return p.brokerId === ref.brokerId && p.brokerCounter === ref.brokerCounter;
    case Match.OtherBroker:
      return p.brokerId !== ref.brokerId;
    case Match.Unsent:
      return !hasMessageId(p);
  }
}

/** The accepted entry that is first in queue order (lowest seq). */
function first(entries: Entries | undefined, ref: PersistedPacket, match: Match): Entry | undefined {
  if (entries === undefined) return undefined;
  if (!Array.isArray(entries)) return accepts(entries.packet, ref, match) ? entries : undefined;
  let best: Entry | undefined;
  for (const e of entries) if ((best === undefined || e.seq < best.seq) && accepts(e.packet, ref, match)) best = e;
  return best;
}

class OutgoingQueue {
  #nextSeq = 0;
  /** seq → entry. Insertion order is delivery order; seqs only grow, so lower seq = earlier. */
  readonly entries = new Map<number, Entry>();
  /** brokerId → brokerCounter → entries: a message's identity, what outgoingUpdate looks up. */
  readonly #byIdentity = new Map<string | undefined, Map<number | undefined, Entries>>();
  /** messageId → entries: what PUBACK/PUBREC/PUBCOMP carry. */
  readonly #byMessageId = new Map<number, Entries>();

  push(packet: PersistedPacket): void {
    const entry: Entry = { seq: this.#nextSeq++, packet };
    this.entries.set(entry.seq, entry);
    this.#index(entry);
  }

  /** Swap the entry's packet (it keeps its queue position). */
  replace(entry: Entry, packet: PersistedPacket): void {
    this.#unindex(entry);
    entry.packet = packet;
    this.#index(entry);
  }

  setMessageId(entry: Entry, messageId: number | undefined): void {
    const p = entry.packet;
    if (hasMessageId(p)) deleteEntry(this.#byMessageId, p.messageId, entry);
    p.messageId = messageId;
    if (hasMessageId(p)) addEntry(this.#byMessageId, p.messageId, entry);
  }

  remove(entry: Entry): void {
    this.#unindex(entry);
    this.entries.delete(entry.seq);
  }

  /** Whether a queued packet holds this packet id (sent and not yet acknowledged). */
  holdsMessageId(messageId: number): boolean {
    return this.#byMessageId.has(messageId);
  }

  /** First entry in queue order that is the same message as `ref` and passes `match`. */
  firstByIdentity(ref: PersistedPacket, match: Match.SameMessage | Match.Unsent): Entry | undefined {
    return first(this.#byIdentity.get(ref.brokerId)?.get(ref.brokerCounter), ref, match);
  }

  /** First entry in queue order with this messageId that passes `match` against `ref`. */
  firstByMessageId(messageId: number, ref: PersistedPacket, match: Match): Entry | undefined {
    return first(this.#byMessageId.get(messageId), ref, match);
  }

  #index(entry: Entry): void {
    const p = entry.packet;
    let byCounter = this.#byIdentity.get(p.brokerId);
    if (!byCounter) this.#byIdentity.set(p.brokerId, (byCounter = new Map()));
    addEntry(byCounter, p.brokerCounter, entry);
    if (hasMessageId(p)) addEntry(this.#byMessageId, p.messageId, entry);
  }

  #unindex(entry: Entry): void {
    const p = entry.packet;
    const byCounter = this.#byIdentity.get(p.brokerId);
    if (byCounter) {
      deleteEntry(byCounter, p.brokerCounter, entry);
      if (byCounter.size === 0) this.#byIdentity.delete(p.brokerId);
    }
    if (hasMessageId(p)) deleteEntry(this.#byMessageId, p.messageId, entry);
  }
}

const earliest = (a: Entry | undefined, b: Entry | undefined): Entry | undefined =>
  a === undefined ? b : b === undefined ? a : a.seq < b.seq ? a : b;

export class MemoryPersistence extends AsyncMemoryPersistence {
  /** clientId → its queue; a client's entry is dropped when its queue empties. */
  readonly #outgoing = new Map<string, OutgoingQueue>();

  #queue(clientId: string): OutgoingQueue {
    let q = this.#outgoing.get(clientId);
    if (!q) this.#outgoing.set(clientId, (q = new OutgoingQueue()));
    return q;
  }

  // Stores a copy per subscriber, as the original does (aedes-packet's Packet resets messageId).
  override async outgoingEnqueue(sub: { clientId: string }, packet: PersistedPacket): Promise<void> {
    this.#queue(sub.clientId).push(new Packet(packet));
  }

  override async outgoingEnqueueCombi(subs: Array<{ clientId: string }>, packet: PersistedPacket): Promise<void> {
    for (const sub of subs) this.#queue(sub.clientId).push(new Packet(packet));
  }

  /**
   * aedes calls this when it sends a queued publish (to record the messageId it assigned) and on
   * PUBREC (to turn the publish into its pubrel). As in the original, the target is the first
   * packet in queue order that either
   *  (a) is the same message (same brokerId and brokerCounter): its messageId is updated; or
   *  (b) is from another broker (a pubrel has no brokerId) and has this messageId: it is replaced
   *      by `packet`, keeping its place in the queue.
   * One deliberate difference: the original's (a) also matches *any* earlier pubrel when `packet`
   * is a pubrel (both lack brokerId/brokerCounter), overwriting another flow's messageId; here a
   * pubrel only matches a pubrel with its own messageId.
   */
  override async outgoingUpdate(client: ClientRef, packet: PersistedPacket): Promise<void> {
    const q = this.#outgoing.get(client.id);
    if (q) {
      // (a): a pubrel has no identity of its own, so it is matched to the pubrel with its messageId.
      const same =
        packet.brokerId !== undefined
          ? q.firstByIdentity(packet, Match.SameMessage)
          : hasMessageId(packet)
            ? q.firstByMessageId(packet.messageId, packet, Match.SameMessage)
            : undefined;
      // (b)
      const other = hasMessageId(packet) ? q.firstByMessageId(packet.messageId, packet, Match.OtherBroker) : undefined;
      const entry = earliest(same, other);
      if (entry !== undefined) {
        if (entry === same) q.setMessageId(entry, packet.messageId);
        else q.replace(entry, packet);
        return;
      }
    }
    throw new Error('no such packet');
  }

  /**
   * PUBACK/PUBCOMP: remove and return the first queued packet with this messageId.
   * aedes also calls this with a packet that has no messageId when it decides not to forward a
   * message (duplicate delivery through overlapping subscriptions, or authorizeForward refusing
   * it). The original then removes the first packet in the queue without a messageId, which under a
   * backlog is some older, not yet sent message (aedes then fails to update it and drops the
   * client). Here it removes an unsent copy of *that* message, found by its identity.
   */
  override async outgoingClearMessageId(client: ClientRef, packet: PersistedPacket): Promise<PersistedPacket | undefined> {
    const q = this.#outgoing.get(client.id);
    if (!q || packet == null) return undefined;
    const entry = hasMessageId(packet)
      ? q.firstByMessageId(packet.messageId, packet, Match.Any)
      : packet.brokerId !== undefined
        ? q.firstByIdentity(packet, Match.Unsent)
        : undefined;
    if (entry === undefined) return undefined;
    q.remove(entry);
    if (q.entries.size === 0) this.#outgoing.delete(client.id);
    return entry.packet;
  }

  /** Offline redelivery on reconnect, in queue order; a snapshot, as aedes clears while reading. */
  override outgoingStream(client: ClientRef): Readable {
    const q = this.#outgoing.get(client.id);
    return Readable.from(q ? Array.from(q.entries.values(), (e) => e.packet) : []);
  }

  /**
   * Whether `messageId` is held by an unacknowledged packet queued for `clientId`. A new packet
   * must not get such an id [MQTT-2.3.1-1]: a PUBACK for it would remove the older packet.
   */
  outgoingIdInUse(clientId: string, messageId: number): boolean {
    return this.#outgoing.get(clientId)?.holdsMessageId(messageId) ?? false;
  }

  /** QoS 1/2 messages queued for persistent sessions and not yet acknowledged (the queue-depth metric). */
  outgoingCount(): number {
    let n = 0;
    for (const q of this.#outgoing.values()) n += q.entries.size;
    return n;
  }

  /** The same, only for the sessions whose client `isConnected` (the backlog backpressure watches). */
  outgoingCountWhere(isConnected: (clientId: string) => boolean): number {
    let n = 0;
    for (const [id, q] of this.#outgoing) if (isConnected(id)) n += q.entries.size;
    return n;
  }

  override async destroy(): Promise<void> {
    await super.destroy();
    this.#outgoing.clear();
  }
}

/** The broker's default persistence. */
export function createMemoryPersistence(opts: MemoryPersistenceOptions = {}): MemoryPersistence {
  return new MemoryPersistence(opts);
}
