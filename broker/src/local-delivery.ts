/**
 * Hands device publishes to a consumer in this process (the edge gateway, `vitalgate gateway
 * --serve-mqtt`) instead of routing them to an MQTT subscriber: no second hop, no subscriber
 * session, no re-encoding.
 *
 * It runs inside aedes' authorizePublish, after the broker's own rules and the identity policy have
 * allowed the publish, so ACLs apply exactly as before. For a QoS 1 publish aedes would send the
 * PUBACK as soon as the hook returns; here the packet is downgraded to QoS 0 before it does, so aedes
 * neither acknowledges nor stores it, and the PUBACK is written by `ack`, which the consumer calls
 * once the reading is durable. aedes then forwards the (QoS 0) copy to any other subscriber, e.g. a
 * monitor; a second gateway subscribed to the same broker would see readings at QoS 0 only.
 *
 * When the consumer's window is full, `take` returns a promise and the hook answers only when it
 * settles: aedes reads nothing more from that device meanwhile (it waits for every packet of a read
 * to be handled), which is the backpressure the device feels.
 *
 * QoS 2 publishes are handed over on arrival and left to aedes' own PUBREC flow.
 */
import type { Client, PublishPacket } from 'aedes';

/**
 * How long PUBACKs wait to share a write with the next ones for the same connection, by default
 * (never when the device waits for nothing else: see PubackWriter).
 * Releases come with each durable flush (about every 50 ms), so without this nearly every PUBACK was
 * its own write syscall: 7 % of the gateway's time at 1,300 devices. At 200 ms a device publishing
 * 14 times a second gets about 3 per write; at 1,750 devices the gateway's CPU fell from 98 % to
 * 90 % of a core and the steady p99 from 2,483 to 2,259 ms (`npm run bench -- --capacity`). The
 * durability promise is unchanged: a PUBACK still goes only after its reading is durable, later.
 */
export const DEFAULT_PUBACK_COALESCE_MS = 200;

/** The consumer (the gateway's LocalIntake). `ack` returns false when the connection is gone. */
export interface LocalConsumer {
  take(topic: string, payload: Uint8Array, ack?: () => boolean): Promise<void> | undefined;
}

export interface LocalDeliveryOptions {
  consumer: LocalConsumer;
  /** Which topics go to the consumer (others take aedes' usual path). */
  accepts(topic: string): boolean;
  /** PUBACKs released within this many ms go out in one write per connection (default 200; 0: at the end of the tick). */
  pubackCoalesceMs?: number;
}

type AuthorizePublish = (client: Client | null, packet: PublishPacket, cb: (err?: Error | null) => void) => void;

interface ClientConn {
  conn?: { write(b: Buffer): boolean; destroyed?: boolean };
  connected?: boolean;
  closed?: boolean;
}

/**
 * PUBACKs released within `coalesceMs` for one connection go out in one write, in the order they
 * were released, except when the device waits for nothing else: a PUBACK that leaves a connection
 * with no publish awaiting its own goes out at once, with those pending before it. A device that
 * sends one publish at a time, or replays its in-flight store one message per PUBACK after a
 * reconnect as MQTT.js does, is never held up by the coalescing. A PUBACK is 4 bytes in MQTT 3.1
 * and 3.1.1, the versions aedes speaks (it refuses MQTT 5 at CONNECT).
 */
class PubackWriter {
  private readonly pending = new Map<ClientConn['conn'], number[]>();
  /** Per connection, the publishes handed to the consumer whose PUBACK is not yet released. */
  private readonly awaiting = new WeakMap<object, number>();
  private scheduled = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly coalesceMs: number) {}

  /** A publish on `conn` now waits for its PUBACK. */
  expect(conn: object): void {
    this.awaiting.set(conn, (this.awaiting.get(conn) ?? 0) + 1);
  }

  send(conn: NonNullable<ClientConn['conn']>, messageId: number): void {
    const left = Math.max(0, (this.awaiting.get(conn) ?? 1) - 1);
    this.awaiting.set(conn, left);
    let ids = this.pending.get(conn);
    if (!ids) this.pending.set(conn, (ids = []));
    ids.push(messageId);
    if (left === 0 && this.coalesceMs > 0) return this.write(conn);
    if (this.scheduled) return;
    this.scheduled = true;
    if (this.coalesceMs <= 0) queueMicrotask(() => this.flush());
    // Unref'd: pending PUBACKs must not keep a stopping process alive; close() flushes them.
    else this.timer = setTimeout(() => this.flush(), this.coalesceMs).unref();
  }

  /** Writes every pending PUBACK now. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.scheduled = false;
    for (const conn of [...this.pending.keys()]) this.write(conn);
  }

  /** Writes one connection's pending PUBACKs. */
  private write(conn: ClientConn['conn']): void {
    const ids = this.pending.get(conn);
    this.pending.delete(conn);
    if (!ids || !conn || conn.destroyed) return;
    const b = Buffer.allocUnsafe(ids.length * 4);
    for (let i = 0; i < ids.length; i++) {
      b[i * 4] = 0x40;
      b[i * 4 + 1] = 0x02;
      b.writeUInt16BE(ids[i]!, i * 4 + 2);
    }
    conn.write(b);
  }
}

export interface LocalDelivery {
  /** aedes' authorizePublish: allowed publishes on accepted topics go to the consumer. */
  authorizePublish: AuthorizePublish;
  /** Writes the PUBACKs still waiting to share a write; the broker calls it before closing connections. */
  flushAcks(): void;
}

/** Wraps an authorizePublish hook so that allowed publishes on accepted topics go to the consumer. */
export function deliverLocally(authorize: AuthorizePublish, o: LocalDeliveryOptions): LocalDelivery {
  const writer = new PubackWriter(o.pubackCoalesceMs ?? DEFAULT_PUBACK_COALESCE_MS);
  const authorizePublish: AuthorizePublish = (client, packet, cb) => {
    authorize(client, packet, (err) => {
      // Wills of dead clients (client null) and refused publishes take aedes' usual path.
      if (err || !client || !o.accepts(packet.topic)) return cb(err);
      const payload = packet.payload as Buffer;
      if (packet.qos !== 1 || packet.messageId === undefined) {
        void o.consumer.take(packet.topic, payload);
        return cb(null);
      }
      const c = client as unknown as ClientConn;
      const conn = c.conn;
      const messageId = packet.messageId;
      // Bound to this connection: after a reconnect the same id may name another message.
      const ack = (): boolean => {
        if (!conn || conn.destroyed || c.closed || c.conn !== conn) return false;
        writer.send(conn, messageId);
        return true;
      };
      packet.qos = 0;
      if (conn) writer.expect(conn);
      const wait = o.consumer.take(packet.topic, payload, ack);
      if (wait) void wait.then(() => cb(null), () => cb(null));
      else cb(null);
    });
  };
  return { authorizePublish, flushAcks: () => writer.flush() };
}
