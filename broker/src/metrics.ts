/**
 * Prometheus metrics of one broker process, served on GET /metrics (text exposition format).
 *
 * Counters are fed by aedes events and hooks as they happen; gauges (connections, queue depth,
 * denials from the policy) are read when Prometheus scrapes, so an idle broker costs nothing.
 * Each process exposes its own figures; in a Redis cluster, sum over instances.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Aedes } from 'aedes';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { PolicyCounters } from './broker.js';

export interface BrokerMetricsSources {
  aedes: Aedes;
  /** Denials by "action:reason", when an identity policy is on. */
  denials?: () => PolicyCounters;
  /** QoS 1 messages waiting in persistent sessions, when the persistence can count them. */
  queueDepth?: () => number;
  /** Of those, queued for sessions whose client is not connected. */
  offlineQueueDepth?: () => number;
  /** Device readings held now, and ever, for backpressure (guards/backlog-guard.ts), when it is on. */
  backpressure?: () => { holding: number; held: number };
}

export interface BrokerMetrics {
  readonly registry: Registry;
  /** Count one message forwarded to a subscriber (called from aedes' authorizeForward hook). */
  forwarded(): void;
  /** Count one dropped connection or packet by reason (malformed, drain-timeout, …). */
  dropped(reason: string): void;
}

/** Turns an aedes client error into a short, bounded label value (never a payload or a secret). */
export function dropReason(err: Error | undefined): string {
  const m = (err?.message ?? '').toLowerCase();
  if (m.includes('drain')) return 'slow-consumer';
  if (m.includes('packet rejected') && m.includes('exceeds')) return 'packet-too-large';
  if (m.includes('keep') && m.includes('alive')) return 'keepalive-timeout';
  if (m.includes('connect did not arrive')) return 'connect-timeout';
  if (m.includes('queue limit')) return 'queue-limit';
  if (m.includes('denied') || m.includes('not authorized')) return 'denied';
  if (m.includes('econnreset') || m.includes('epipe') || m.includes('closed')) return 'connection-reset';
  if (m.includes('invalid') || m.includes('malformed') || m.includes('protocol') || m.includes('length') || m.includes('header') || m.includes('packet')) return 'malformed';
  return 'other';
}

export function createBrokerMetrics(src: BrokerMetricsSources): BrokerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'vitalgate_broker_' });
  const { aedes } = src;

  new Gauge({
    name: 'vitalgate_broker_connections',
    help: 'Clients connected to this broker process',
    registers: [registry],
    collect() {
      this.set(aedes.connectedClients);
    },
  });
  const connects = new Counter({ name: 'vitalgate_broker_connects_total', help: 'Client sessions opened (CONNACK accepted)', registers: [registry] });
  const disconnects = new Counter({ name: 'vitalgate_broker_disconnects_total', help: 'Client sessions ended, for any reason', registers: [registry] });
  const messagesIn = new Counter({ name: 'vitalgate_broker_messages_in_total', help: 'PUBLISH packets accepted from clients', registers: [registry] });
  const bytesIn = new Counter({ name: 'vitalgate_broker_bytes_in_total', help: 'Payload bytes of accepted PUBLISH packets', registers: [registry] });
  const messagesOut = new Counter({ name: 'vitalgate_broker_messages_out_total', help: 'PUBLISH packets forwarded to subscribers', registers: [registry] });
  const dropped = new Counter({
    name: 'vitalgate_broker_dropped_total',
    help: 'Connections closed by the broker with their unsent packets dropped, by reason (malformed, packet-too-large, slow-consumer, keepalive-timeout, connect-timeout, queue-limit, denied, …)',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'vitalgate_broker_denials',
    help: 'Requests refused by the identity policy since start, by action and reason',
    labelNames: ['action', 'reason'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [key, n] of Object.entries(src.denials?.().byReason ?? {})) {
        const [action, reason] = key.split(':', 2) as [string, string];
        this.set({ action, reason: reason ?? '' }, n);
      }
    },
  });
  if (src.queueDepth) {
    const depth = src.queueDepth;
    new Gauge({
      name: 'vitalgate_broker_queue_depth',
      help: 'QoS 1 messages queued in persistent sessions and not yet acknowledged',
      registers: [registry],
      collect() {
        this.set(depth());
      },
    });
  }

  if (src.offlineQueueDepth) {
    const depth = src.offlineQueueDepth;
    new Gauge({
      name: 'vitalgate_broker_offline_queue_depth',
      help: 'QoS 1 messages queued for persistent sessions whose client is not connected (alarm on its growth: a consumer that is down or gone)',
      registers: [registry],
      collect() {
        this.set(depth());
      },
    });
  }

  if (src.backpressure) {
    const bp = src.backpressure;
    new Gauge({
      name: 'vitalgate_broker_readings_held',
      help: 'Device readings held now, unacknowledged, while the queue for persistent sessions is at its bound (backpressure)',
      registers: [registry],
      collect() {
        this.set(bp().holding);
      },
    });
    new Counter({
      name: 'vitalgate_broker_readings_held_total',
      help: 'Device readings ever held for backpressure',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(bp().held);
      },
    });
  }

  aedes.on('client', () => connects.inc());
  aedes.on('clientDisconnect', () => disconnects.inc());
  aedes.on('publish', (packet, client) => {
    if (!client) return; // $SYS and wills are the broker's own
    messagesIn.inc();
    bytesIn.inc(packet.payload.length);
  });
  aedes.on('clientError', (_c, err) => dropped.inc({ reason: dropReason(err) }));
  aedes.on('connectionError', (_c, err) => dropped.inc({ reason: dropReason(err) }));

  return {
    registry,
    forwarded: () => messagesOut.inc(),
    dropped: (reason) => dropped.inc({ reason }),
  };
}

export interface MetricsServer {
  readonly url: string;
  close(): Promise<void>;
}

/** Serves /metrics and /healthz. Binds loopback by default: metrics reveal device counts. */
export async function serveMetrics(registry: Registry, port: number, host = '127.0.0.1'): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET') return void res.writeHead(405).end();
    if (req.url === '/healthz') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    if (req.url !== '/metrics') return void res.writeHead(404, { 'content-type': 'text/plain' }).end('try /metrics\n');
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (e: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${e.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(e.code === 'EADDRINUSE' ? new Error(`metrics port ${host}:${port} is already in use`) : e),
    );
    server.listen(port, host, () => resolve());
  });
  const p = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${p}/metrics`,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
