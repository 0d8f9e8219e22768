/**
 * Two corrections to aedes 1.2's delivery path that make "persistent session + QoS 1" mean what it
 * says across a broker crash or a cluster failover. Both are installed from a persistence (aedes
 * hands its persistence the broker in setup()), so any persistence can carry them; redisBackends()
 * and openFilePersistence() do.
 *
 * 1. CONNACK first (gateUntilConnack). On a CONNECT with clean=false, aedes restores the session's
 *    subscriptions (subscribing them on the message emitter) *before* it writes CONNACK. A publish
 *    that arrives in that window is written to the socket straight away, so the client sees a
 *    PUBLISH before its CONNACK, which MQTT 3.1.1 forbids [MQTT-3.2.0-1]. MQTT.js then stalls for
 *    good: it parks the PUBACK for that publish "until connected", and its packet pump waits for
 *    that PUBACK before it reads the CONNACK. The client never connects; everything queued for it
 *    sits in the persistence. A device publishing continuously to the instance a gateway fails over
 *    to hits this window most of the time (it was the "nearly everything lost" failover mode).
 *    For a persistent session aedes asks the persistence to record the packet id (outgoingUpdate)
 *    before it writes each QoS > 0 publish, so delaying that call until the client's CONNACK is out
 *    delays the write. QoS 0 deliveries on a restored session do not pass through the persistence
 *    and can still precede CONNACK; MQTT.js tolerates that (no PUBACK to park).
 *
 * 2. Publish before PUBACK (publishBeforeAck). aedes answers a QoS 1 PUBLISH with PUBACK first and
 *    only then publishes it (stores it for offline subscribers, hands it to the emitter). A broker
 *    killed in between has acknowledged a message it never stored: the device drops it, nobody
 *    receives it. Here the message is published from the authorizePublish hook, which aedes calls
 *    before the PUBACK, and aedes' own later publish of the same packet is skipped. A PUBACK then
 *    means the message is in the persistence (in Redis, or in the fsync'd journal of
 *    persistence/file/) and on the emitter. (QoS 2 already stores the packet before PUBREC.)
 */
import type { AedesAsyncPersistence } from '../persistence/memory.js';
import { Readable } from 'node:stream';

/** The fields of an aedes Client read here (aedes' typings do not declare all of them). */
interface ClientState {
  id?: string;
  connecting?: boolean;
  connackSent?: boolean;
  closed?: boolean;
}

interface BrokerLike {
  on?(event: string, fn: (...args: never[]) => void): unknown;
  publish?: (packet: object, client?: unknown, done?: (err?: Error | null) => void) => void;
  authorizePublish?: (client: unknown, packet: { qos?: number }, cb: (err?: Error | null) => void) => void;
}

const INSTALLED = Symbol.for('vitalgate.publishBeforeAck');

/**
 * Makes `broker` publish each client QoS 1 message before aedes sends its PUBACK (see above).
 * Idempotent. A broker object without publish/authorizePublish (a test double) is left alone.
 */
export function publishBeforeAck(broker: BrokerLike): void {
  const b = broker as BrokerLike & { [INSTALLED]?: true };
  if (b[INSTALLED] || typeof b.publish !== 'function' || typeof b.authorizePublish !== 'function') return;
  b[INSTALLED] = true;
  const publish = b.publish.bind(b);
  const authorize = b.authorizePublish;
  // Packets already published early; aedes' own publish of them (after PUBACK) becomes a no-op.
  const early = new WeakSet<object>();
  b.publish = (packet, client, done) => {
    if (early.has(packet)) {
      early.delete(packet);
      const cb = typeof client === 'function' ? (client as (e?: Error | null) => void) : done;
      if (cb) setImmediate(cb, null);
      return;
    }
    publish(packet, client, done);
  };
  b.authorizePublish = function (client, packet, cb) {
    authorize.call(b, client, packet, (err) => {
      // Only a connected client's QoS 1: wills of dead brokers come with client null, QoS 0 has no
      // ack, and QoS 2 is stored before PUBREC by aedes itself.
      if (err || !client || packet.qos !== 1) return cb(err);
      publish(packet, client, (e) => {
        if (e) return cb(e);
        early.add(packet);
        cb(null);
      });
    });
  };
}

/**
 * Wraps a persistence so that, for a client whose CONNACK is not out yet, outgoingUpdate (and so the
 * write of a QoS > 0 publish to it) waits until it is, or until the client closes. The wrapper's
 * setup() also installs publishBeforeAck on the broker unless `publishBeforeAck: false`.
 */
export function withDeliveryGuards<P extends AedesAsyncPersistence>(p: P, opts: { publishBeforeAck?: boolean } = {}): P {
  const waiting = new Map<ClientState, Array<() => void>>();
  let sweeper: NodeJS.Timeout | undefined;
  const release = (c: ClientState): void => {
    const fns = waiting.get(c);
    if (!fns) return;
    waiting.delete(c);
    for (const f of fns) f();
    if (waiting.size === 0 && sweeper) {
      clearInterval(sweeper);
      sweeper = undefined;
    }
  };
  // A client that fails authentication or drops before CONNACK emits nothing we can listen to on
  // the broker; a slow sweep releases its waiters (the write then fails as "connection closed" and
  // the message stays queued).
  const sweep = (): void => {
    for (const c of [...waiting.keys()]) if (c.closed || c.connackSent) release(c);
  };
  const waitForConnack = (c: ClientState): Promise<void> =>
    new Promise((resolve) => {
      const fns = waiting.get(c);
      if (fns) fns.push(resolve);
      else waiting.set(c, [resolve]);
      sweeper ??= setInterval(sweep, 25).unref();
    });

  return new Proxy(p, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (typeof v !== 'function') return v;
      const fn = v as (...a: unknown[]) => unknown;
      if (prop === 'setup') {
        return async (broker: BrokerLike) => {
          if (typeof broker?.on === 'function') {
            broker.on('connackSent', ((_packet: unknown, client: ClientState) => release(client)) as (...args: never[]) => void);
          }
          if (opts.publishBeforeAck !== false && broker) publishBeforeAck(broker);
          return fn.call(target, broker);
        };
      }
      if (prop === 'outgoingUpdate') {
        return async (client: ClientState, packet: unknown) => {
          // Only a real aedes client mid-connect; plain { id } objects (tests, tools) pass through.
          if (client && client.connecting === true && client.connackSent === false && !client.closed) await waitForConnack(client);
          return fn.call(target, client, packet);
        };
      }
      if (prop === 'destroy') {
        return async (...args: unknown[]) => {
          for (const c of [...waiting.keys()]) release(c);
          return fn.apply(target, args);
        };
      }
      return fn.bind(target);
    },
  });
}

/**
 * DUP 1 on re-delivery [MQTT-3.3.1-1] [MQTT-4.4.0-1], which aedes never sets. When a persistent
 * session reconnects, aedes sends its queue from `outgoingStream`; a queued PUBLISH that already
 * has a packet id was sent before (aedes records the id with outgoingUpdate before each write), so
 * it goes out again with DUP 1, while one queued while the client was away keeps DUP 0. This is the
 * view of `p` that aedes is given (startBroker): the persistence itself, and its contract, are
 * unchanged.
 */
export function markRedeliveries<P extends AedesAsyncPersistence>(p: P): P {
  const mark = (packet: { cmd?: string; messageId?: unknown; dup?: boolean }) =>
    packet?.cmd === 'publish' && typeof packet.messageId === 'number' ? { ...packet, dup: true } : packet;
  // Bound methods are made once per method, not at every call: aedes calls the persistence
  // several times per message.
  const bound = new Map<PropertyKey, unknown>();
  return new Proxy(p, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (typeof v !== 'function') return v;
      let f = bound.get(prop);
      if (f === undefined || (f as { original?: unknown }).original !== v) {
        f = prop === 'outgoingStream'
          ? (client: { id: string }) => Readable.from(target.outgoingStream(client)).map(mark)
          : (v as (...a: unknown[]) => unknown).bind(target);
        (f as { original?: unknown }).original = v;
        bound.set(prop, f);
      }
      return f;
    },
  });
}
