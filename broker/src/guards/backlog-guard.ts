/**
 * Backpressure from a slow consumer to the devices. While the messages queued for persistent
 * sessions and not yet acknowledged (the persistence's outgoingCount: in practice the gateway's
 * session) number `highWater` or more, device publishes on reading topics are held in
 * authorizePublish, before aedes stores or acknowledges them, until the queue is back under
 * `lowWater`; then they go on in the order they came. aedes reads nothing more from a held
 * connection meanwhile (it handles every packet of one read before the next read), so the device
 * feels slower PUBACKs and then TCP backpressure, and the broker spends its time delivering what it
 * has already acknowledged instead of taking more in.
 *
 * Why: a broker with more devices than it can route took in ~19,000 publishes/s while delivering
 * ~5,000/s to the gateway at first and ~1,300/s later (the queue's own cost grows with it); after
 * 40 s of 1,500 devices, 435,000 acknowledged messages were queued in its memory and the gateway
 * sat at 15-20 % of a core, starved (`npm run bench -- --capacity`, `vitalgate broker` at 100 %).
 *
 * Which sessions count is the broker's choice (`backlog`): by default every persistent session,
 * connected or not (their messages were acknowledged and live in the broker), optionally only
 * those disconnected for less than a grace (broker.ts, maxBacklogOfflineMs).
 *
 * Only publishes on reading topics are held, which keeps a consumer's own publishes (status,
 * commands) from being held: holding one would stop aedes reading that connection, and with it the
 * PUBACKs that drain the queue. QoS 0 readings are held too (they cost the same to route); wills
 * with no live client (the sweep's) are not, and a will on a reading topic published as its client
 * closes is dropped like any held publish of a closed client. A held publish whose client has gone
 * is refused, not published: it was never acknowledged, and the device sends it again when it
 * reconnects. The broker tells the guard when a client goes (clientGone), so their held publishes
 * are let go at once, whatever the queue: a held device stops being read, misses its keepalive and
 * is cut, and its reconnection must not pile up next to its old entries.
 */
import type { Client, PublishPacket } from 'aedes';

type AuthorizePublish = (client: Client | null, packet: PublishPacket, cb: (err?: Error | null) => void) => void;

/** Acknowledged messages a broker lets queue for its consumers before holding devices, by default. */
export const DEFAULT_MAX_BACKLOG = 60_000;

export interface BacklogGuardOptions {
  /** Messages queued for persistent sessions and not yet acknowledged (outgoingCount). */
  backlog(): number;
  /** Hold from this many on. */
  highWater: number;
  /** Release once the backlog is under this (default 80 % of highWater). */
  lowWater?: number;
  /** The topics that may be held (reading topics). */
  holds(topic: string): boolean;
  /** How often the backlog is read while holding, and at most how stale a reading may be otherwise (ms, default 10). */
  pollMs?: number;
}

export interface BacklogGuardStats {
  /** Publishes held now. */
  holding: number;
  /** Publishes ever held. */
  held: number;
  /** Held publishes refused because their connection closed meanwhile. */
  dropped: number;
  /** The backlog as last read. */
  backlog: number;
}

export interface BacklogGuard {
  authorizePublish: AuthorizePublish;
  stats(): BacklogGuardStats;
  /** A client closed: its held publishes are refused at the next poll, whatever the backlog. */
  clientGone(): void;
  /** Refuses whatever is still held, and from now on whatever would be (the broker is closing). */
  close(): void;
}

interface Waiting { client: Client; cb: (err?: Error | null) => void }

export function holdOnBacklog(inner: AuthorizePublish, o: BacklogGuardOptions): BacklogGuard {
  if (!(Number.isInteger(o.highWater) && o.highWater > 0)) throw new Error(`the backlog bound must be a positive whole number, not ${o.highWater}`);
  const lowWater = o.lowWater ?? Math.floor(o.highWater * 0.8);
  if (!(lowWater >= 0 && lowWater < o.highWater)) throw new Error(`the release mark must be under the bound (${o.highWater}), not ${lowWater}`);
  const pollMs = o.pollMs ?? 10;
  let waiting: Waiting[] = [];
  // Read from the front without shifting: a shift is O(n) once V8 stops trimming in place.
  let head = 0;
  let backlog = 0;
  let readAt = -Infinity;
  let timer: NodeJS.Timeout | undefined;
  let someGone = false;
  let closed = false;
  const stats = { held: 0, dropped: 0 };

  const read = (): number => {
    readAt = performance.now();
    backlog = o.backlog();
    return backlog;
  };
  const gone = (c: Client): boolean => (c as { closed?: boolean }).closed === true;
  const drop = (w: Waiting): void => {
    stats.dropped++;
    w.cb(new Error('connection closed while its publish was held for backpressure'));
  };

  const stopIfEmpty = (): void => {
    if (head < waiting.length) return;
    waiting = [];
    head = 0;
    clearInterval(timer);
    timer = undefined;
  };

  const release = (): void => {
    if (someGone) {
      someGone = false;
      const kept: Waiting[] = [];
      for (let i = head; i < waiting.length; i++) {
        const w = waiting[i]!;
        if (gone(w.client)) drop(w);
        else kept.push(w);
      }
      waiting = kept;
      head = 0;
    }
    const n = read();
    if (n > lowWater) return stopIfEmpty();
    // Room for this many more before the bound is reached again (each adds at least one message).
    let room = o.highWater - n;
    while (head < waiting.length && room > 0) {
      const w = waiting[head]!;
      waiting[head++] = undefined as never;
      if (gone(w.client)) {
        drop(w);
        continue;
      }
      room--;
      w.cb(null);
    }
    // What was let go is counted until the next read, as any publish is.
    backlog = o.highWater - room;
    if (head > 4096 && head * 2 > waiting.length) {
      waiting.splice(0, head);
      head = 0;
    }
    stopIfEmpty();
  };

  const authorizePublish: AuthorizePublish = (client, packet, cb) => {
    inner(client, packet, (err) => {
      if (err || !client) return cb(err);
      // Already holding: join the line, so nobody overtakes those held before.
      if (timer === undefined) {
        if (performance.now() - readAt >= pollMs) read();
        if (backlog < o.highWater) {
          // Counted until the next read (any publish may add to the queue). The topic is looked
          // at only from here on: parsing it for every publish was 1.5 % of a saturated broker.
          backlog++;
          return cb(null);
        }
      }
      if (!o.holds(packet.topic)) return cb(null);
      if (closed) return cb(new Error('the broker is closing'));
      if (gone(client)) return drop({ client, cb });
      if (timer === undefined) {
        timer = setInterval(release, pollMs);
        // Held publishes belong to connections, which keep the process alive on their own.
        timer.unref();
      }
      stats.held++;
      waiting.push({ client, cb });
    });
  };

  return {
    authorizePublish,
    stats: () => ({ holding: waiting.length - head, held: stats.held, dropped: stats.dropped, backlog }),
    clientGone: () => {
      someGone = true;
    },
    close: () => {
      closed = true;
      clearInterval(timer);
      timer = undefined;
      const held = waiting.slice(head);
      waiting = [];
      head = 0;
      for (const w of held) w.cb(new Error('the broker is closing'));
    },
  };
}
