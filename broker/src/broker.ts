/**
 * The aedes MQTT broker devices and gateways connect to: its listeners (listeners.ts), metrics
 * (metrics.ts) and lifecycle.
 *
 * Identity and ACLs plug in through `BrokerPolicy` (aedes' authenticate/authorize hooks). Without
 * a policy every client is accepted, which is why the default listener binds loopback only.
 */
import { randomBytes } from 'node:crypto';
import type { Aedes as AedesType, AedesOptions } from 'aedes';
import pino, { type Logger } from 'pino';
import { openListener, type ListenerOptions, type OpenListener } from './listeners.js';
import { createMemoryPersistence, type AedesAsyncPersistence } from './persistence/memory.js';
import { createBrokerMetrics, dropReason, type BrokerMetrics } from './metrics.js';
import { markRedeliveries } from './guards/delivery-guards.js';
import { limitPacketSize } from './guards/packet-guard.js';
import { sessionRules, type SessionRuleStats } from './guards/session-rules.js';
import { deliverLocally, type LocalDeliveryOptions } from './local-delivery.js';
import { DEFAULT_MAX_BACKLOG, holdOnBacklog, type BacklogGuardStats } from './guards/backlog-guard.js';
import { isReadingTopic } from '@vitalgate/protocol';

export interface BrokerPolicy {
  authenticate?: AedesOptions['authenticate'];
  authorizePublish?: AedesOptions['authorizePublish'];
  authorizeSubscribe?: AedesOptions['authorizeSubscribe'];
  /** Denial counters, if the policy keeps them (included in RunningBroker.stats()). */
  stats?(): PolicyCounters;
}

export interface PolicyCounters {
  total: number;
  /** e.g. "publish:other-patient" → count */
  byReason: Record<string, number>;
}

export interface BrokerOptions {
  /** Bind address of the default listener. Default 127.0.0.1: an unauthenticated broker must not face a network. */
  host?: string;
  /** TCP port of the default listener; 0 picks a free one. Default 1883. */
  port?: number;
  /**
   * Listeners to open instead of the single plain-TCP one that host/port describe: any mix of
   * mqtt, mqtts (TLS, optionally with client certificates), ws and wss. The first is `url`.
   */
  listeners?: ListenerOptions[];
  policy?: BrokerPolicy;
  /** Passed to aedes: max time a slow subscriber may block delivery before it is dropped (ms). */
  drainTimeout?: number;
  /** Passed to aedes: a connection that sends no CONNECT within this time is closed (ms). Default 10 s. */
  connectTimeout?: number;
  /**
   * Largest MQTT packet a connection may send, checked on its fixed header before aedes buffers
   * it (mqtt-packet alone would buffer up to 256 MiB per connection). Must exceed the policy's
   * maxPayloadBytes plus topic and header. Default 512 KiB.
   */
  maxPacketBytes?: number;
  /**
   * aedes persistence (promise style, e.g. aedes-persistence-redis for a cluster). Default: our
   * in-memory store (persistence/memory.ts), O(1) per message for persistent sessions. A persistence
   * passed here belongs to the caller: close() does not destroy it.
   */
  persistence?: AedesAsyncPersistence;
  /** aedes message emitter (e.g. mqemitter-redis, so several brokers share publishes). Default in-process. */
  mq?: unknown;
  /** Structured log of listeners, refusals and errors. Default: pino to stderr at warn (embedded use stays quiet). */
  logger?: Logger;
  /**
   * aedes' heartbeatInterval (ms, default 60 000). Stored wills of clients that died with a broker
   * (a restart on persistent storage, a dead cluster peer) are swept every 4 heartbeats.
   */
  heartbeatIntervalMs?: number;
  /**
   * A consumer in this process (the gateway of `vitalgate gateway --serve-mqtt`) that takes device
   * publishes on the accepted topics directly and acknowledges QoS 1 ones itself (local-delivery.ts).
   */
  localDelivery?: LocalDeliveryOptions;
  /**
   * Backpressure (guards/backlog-guard.ts): while this many acknowledged messages or more are queued
   * for persistent sessions (the gateway's), device publishes on reading topics are held before
   * they are stored or acknowledged (see maxBacklogOfflineMs for disconnected sessions). Default DEFAULT_MAX_BACKLOG;
   * 0 turns it off. Needs a persistence that counts its queue (ours, memory or file; not Redis:
   * a number here is then an error, the default is off), and is not used with localDelivery,
   * whose consumer holds devices itself.
   */
  maxBacklog?: number;
  /**
   * A persistent session whose client disconnected counts toward maxBacklog for this long, then
   * no more (sessions restored at start count from the start). By default always: a gateway that
   * is down keeps the bound, and a consumer gone for good holds devices back, with a warning
   * naming it after 5 minutes. Set it to let devices go on past a dead session, at the cost of
   * that session's queue growing in memory without bound.
   */
  maxBacklogOfflineMs?: number;
}

export interface BrokerStats {
  clients: number;
  messagesIn: number;
  bytesIn: number;
  /** Refusals of the rules every broker enforces (session-rules.ts). */
  rules: SessionRuleStats;
  /** Present when the policy counts denials (see identity/policy.ts). */
  denials?: PolicyCounters;
  /** Present when device publishes are held while the consumers' queue is long (maxBacklog). */
  backpressure?: BacklogGuardStats;
}

export interface RunningBroker {
  readonly host: string;
  readonly port: number;
  /** URL of the first listener. */
  readonly url: string;
  readonly listeners: readonly OpenListener[];
  readonly aedes: AedesType;
  /** The persistence aedes was given (options.persistence, or the default in-memory one). */
  readonly persistence: AedesAsyncPersistence;
  /** Prometheus registry of this broker (serve it with serveMetrics). */
  readonly metrics: BrokerMetrics;
  stats(): BrokerStats;
  close(): Promise<void>;
}

export const DEFAULT_BROKER_PORT = 1883;
export const DEFAULT_MAX_PACKET_BYTES = 512 * 1024;
/** A persistent session offline this long with messages queued is named in a warning. */
const OFFLINE_WARN_MS = 5 * 60_000;

export async function startBroker(opts: BrokerOptions = {}): Promise<RunningBroker> {
  const listenerSpecs: ListenerOptions[] = opts.listeners?.length
    ? opts.listeners
    : [{ protocol: 'mqtt', host: opts.host ?? '127.0.0.1', port: opts.port ?? DEFAULT_BROKER_PORT }];
  const log = opts.logger ?? pino({ name: 'broker', level: 'warn' }, pino.destination(2));
  const { Aedes } = await import('aedes');
  const ownPersistence = opts.persistence ? undefined : createMemoryPersistence();
  const persistence = opts.persistence ?? ownPersistence!;
  let metrics: BrokerMetrics | undefined;
  const rules = sessionRules(opts.policy, persistence, log);
  const local = opts.localDelivery ? deliverLocally(rules.authorizePublish, opts.localDelivery) : undefined;
  const counting = persistence as { outgoingCount?: () => number; outgoingCountWhere?: (isConnected: (clientId: string) => boolean) => number };
  const queueDepth = counting.outgoingCount?.bind(persistence);
  const maxBacklog = opts.maxBacklog ?? DEFAULT_MAX_BACKLOG;
  if (!Number.isInteger(maxBacklog) || maxBacklog < 0) throw new Error(`maxBacklog must be a whole number, 0 for off, not ${maxBacklog}`);
  const connectedQueue = counting.outgoingCountWhere?.bind(persistence);
  if (opts.maxBacklog && !local && !connectedQueue) throw new Error('maxBacklog needs a persistence that counts its queue (the memory or file one, not Redis): set it to 0');
  // A disconnected session counts until it has been away this long; by default always: its
  // messages were acknowledged to devices and live in this broker's memory or journal, so not
  // counting them would let that memory grow without bound while a gateway is down.
  const offlineMs = opts.maxBacklogOfflineMs ?? Infinity;
  if (!(offlineMs >= 0)) throw new Error(`maxBacklogOfflineMs must be 0 or more, not ${offlineMs}`);
  // Connected clients by id, kept here: aedes' own map can lose a live client when an older
  // connection with the same id finishes closing after the new one registered.
  const live = new Map<string, object>();
  const connected = (id: string): boolean => live.has(id);
  // When each persistent session's client left; a session never seen connected (restored from disk) from the start.
  const startedAt = performance.now();
  const offlineSince = new Map<string, number>();
  const counts = (id: string): boolean => connected(id) || performance.now() - (offlineSince.get(id) ?? startedAt) < offlineMs;
  const warnTimers = new Set<NodeJS.Timeout>();
  const backlog = !local && connectedQueue && maxBacklog > 0
    ? holdOnBacklog(rules.authorizePublish, { backlog: () => connectedQueue(counts), highWater: maxBacklog, holds: isReadingTopic })
    : undefined;
  const aedes = await Aedes.createBroker({
    // Unique per instance: brokers sharing Redis tell each other apart by id.
    id: `vitalgate-${process.pid}-${randomBytes(3).toString('hex')}`,
    ...(opts.mq ? { mq: opts.mq } : {}),
    // Its queue re-sent on reconnect carries DUP 1 where a message was sent before (delivery-guards.ts).
    persistence: markRedeliveries(persistence),
    // Device ids are up to 64 characters; MQTT 3.1.1's 23 is a minimum servers must accept, not a cap.
    maxClientsIdLength: 128,
    drainTimeout: opts.drainTimeout ?? 60_000,
    // A socket that never says CONNECT holds a file descriptor; 30 s (aedes' default) lets a
    // connect flood pile them up.
    connectTimeout: opts.connectTimeout ?? 10_000,
    heartbeatInterval: opts.heartbeatIntervalMs ?? 60_000,
    preConnect: rules.preConnect,
    authenticate: rules.authenticate,
    authorizePublish: local?.authorizePublish ?? backlog?.authorizePublish ?? rules.authorizePublish,
    authorizeSubscribe: rules.authorizeSubscribe,
    authorizeForward: (_client, packet) => {
      metrics?.forwarded();
      return packet;
    },
  });
  if (connectedQueue) {
    const warnAfter = Number.isFinite(offlineMs) ? offlineMs : OFFLINE_WARN_MS;
    aedes.on('client', (client) => {
      live.set(client.id, client);
      offlineSince.delete(client.id);
    });
    aedes.on('clientDisconnect', (client) => {
      // Held publishes of a closed client are let go at once, not when the queue next drains.
      backlog?.clientGone();
      if (live.get(client.id) !== client) return; // a newer connection has the id
      live.delete(client.id);
      if ((client as { clean?: boolean }).clean !== false) return;
      offlineSince.set(client.id, performance.now());
      if (!backlog) return;
      const t = setTimeout(() => {
        warnTimers.delete(t);
        const since = offlineSince.get(client.id);
        // Back since, or gone again later (a later timer speaks for that).
        if (connected(client.id) || since === undefined || performance.now() - since < warnAfter - 5) return;
        const queued = connectedQueue((id) => id === client.id);
        if (queued === 0) return;
        if (Number.isFinite(offlineMs)) {
          log.warn({ client: client.id, queued }, 'a persistent session offline longer than limits.maxBacklogOfflineMs no longer holds devices back: its queue grows in memory until it returns or is cleaned');
        } else {
          log.warn({ client: client.id, queued, offlineMinutes: Math.round(warnAfter / 60_000) }, 'a persistent session that is offline still counts toward limits.maxBacklog, and holds device readings back once its queue reaches it: if it is not coming back, end its session (connect once with its client id and a clean session), or set limits.maxBacklogOfflineMs');
        }
      }, warnAfter);
      t.unref();
      warnTimers.add(t);
    });
  }
  metrics = createBrokerMetrics({
    aedes,
    ...(opts.policy?.stats && { denials: opts.policy.stats.bind(opts.policy) }),
    ...(queueDepth && { queueDepth }),
    ...(connectedQueue && { offlineQueueDepth: () => connectedQueue((id) => !connected(id)) }),
    ...(backlog && { backpressure: () => backlog.stats() }),
  });
  let messagesIn = 0;
  let bytesIn = 0;
  aedes.on('publish', (packet, client) => {
    if (client) {
      messagesIn++;
      bytesIn += packet.payload.length;
    }
  });
  // aedes reports a refused stored will from its sweep as an 'error' event; unheard, it would crash.
  (aedes as unknown as NodeJS.EventEmitter).on('error', (err: Error) => log.warn({ err: err.message }, 'broker error'));
  aedes.on('clientError', (client, err) => log.debug({ client: client?.id, reason: dropReason(err), err: err.message }, 'client dropped'));
  aedes.on('connectionError', (_client, err) => log.debug({ reason: dropReason(err), err: err.message }, 'connection dropped before CONNECT completed'));

  const listeners: OpenListener[] = [];
  const aedesClosed = (): Promise<void> => {
    // PUBACKs of readings already durable go out before the connections close, or devices would send them again.
    local?.flushAcks();
    // Held publishes were never acknowledged: refused, the devices send them again elsewhere or later.
    backlog?.close();
    for (const t of warnTimers) clearTimeout(t);
    return new Promise<void>((resolve) => aedes.close(() => resolve())).then(() => ownPersistence?.destroy());
  };
  try {
    const maxPacketBytes = opts.maxPacketBytes ?? DEFAULT_MAX_PACKET_BYTES;
    // Counted as dropped through aedes' connection error, like any other malformed input.
    const onReject = (reason: string): void => log.debug({ reason }, 'connection cut: packet rejected');
    for (const spec of listenerSpecs) {
      listeners.push(await openListener(spec, (stream) => {
        // Small PUBACKs and deliveries must not wait on delayed ACKs: without this, one flooding
        // client raised the others' p99 latency from ~5 ms to ~50 ms (robustness.test.ts).
        (stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
        aedes.handle(limitPacketSize(stream, { maxPacketBytes, onReject }));
      }, maxPacketBytes));
    }
  } catch (e) {
    await Promise.all(listeners.map((l) => l.close()));
    await aedesClosed().catch(() => undefined);
    throw e;
  }
  for (const l of listeners) log.info({ url: l.url }, 'listening');
  const first = listeners[0]!;
  let closing: Promise<void> | undefined;
  return {
    host: first.host,
    port: first.port,
    url: first.url,
    listeners,
    aedes,
    persistence,
    metrics,
    stats: () => ({ clients: aedes.connectedClients, messagesIn, bytesIn, rules: rules.stats(), ...(opts.policy?.stats && { denials: opts.policy.stats() }), ...(backlog && { backpressure: backlog.stats() }) }),
    // Memoised: a second close() waits for the first instead of destroying the persistence twice.
    // The default persistence is destroyed only after aedes has closed its clients, which still use it.
    close: () => (closing ??= aedesClosed().then(() => Promise.all(listeners.map((l) => l.close()))).then(() => undefined)),
  };
}
