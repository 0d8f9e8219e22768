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

/** The consumer (the gateway's LocalIntake). `ack` returns false when the connection is gone. */
export interface LocalConsumer {
  take(topic: string, payload: Uint8Array, ack?: () => boolean): Promise<void> | undefined;
}

export interface LocalDeliveryOptions {
  consumer: LocalConsumer;
  /** Which topics go to the consumer (others take aedes' usual path). */
  accepts(topic: string): boolean;
}

type AuthorizePublish = (client: Client | null, packet: PublishPacket, cb: (err?: Error | null) => void) => void;

interface ClientConn {
  conn?: { write(b: Buffer): boolean; destroyed?: boolean };
  connected?: boolean;
  closed?: boolean;
}

/**
 * PUBACKs released in one tick for one connection go out in one write. A PUBACK is 4 bytes in MQTT
 * 3.1.1, and MQTT 5 allows the same 4 bytes for success with no properties.
 */
class PubackWriter {
  private readonly pending = new Map<ClientConn['conn'], number[]>();
  private scheduled = false;

  send(conn: NonNullable<ClientConn['conn']>, messageId: number): void {
    let ids = this.pending.get(conn);
    if (!ids) this.pending.set(conn, (ids = []));
    ids.push(messageId);
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    for (const [conn, ids] of this.pending) {
      if (!conn || conn.destroyed) continue;
      const b = Buffer.allocUnsafe(ids.length * 4);
      for (let i = 0; i < ids.length; i++) {
        b[i * 4] = 0x40;
        b[i * 4 + 1] = 0x02;
        b.writeUInt16BE(ids[i]!, i * 4 + 2);
      }
      conn.write(b);
    }
    this.pending.clear();
  }
}

/** Wraps an authorizePublish hook so that allowed publishes on accepted topics go to the consumer. */
export function deliverLocally(authorize: AuthorizePublish, o: LocalDeliveryOptions): AuthorizePublish {
  const writer = new PubackWriter();
  return (client, packet, cb) => {
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
      const wait = o.consumer.take(packet.topic, payload, ack);
      if (wait) void wait.then(() => cb(null), () => cb(null));
      else cb(null);
    });
  };
}
