/**
 * The embedded aedes MQTT broker devices and gateways connect to.
 *
 * Identity and ACLs plug in through `BrokerPolicy` (aedes' authenticate/authorize hooks), so the
 * transport and lifecycle here do not change when they arrive. Without a policy every client is
 * accepted, which is why the default bind address is loopback only.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Server } from 'node:net';
import type { Aedes as AedesType, AedesOptions } from 'aedes';
import { createMemoryPersistence, type AedesAsyncPersistence } from './memory-persistence.js';

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
  /** Bind address. Default 127.0.0.1: an unauthenticated broker must not face a network. */
  host?: string;
  /** TCP port; 0 picks a free one. Default 1883. */
  port?: number;
  policy?: BrokerPolicy;
  /** Passed to aedes: max time a slow subscriber may block delivery before it is dropped (ms). */
  drainTimeout?: number;
  /**
   * aedes persistence (promise style, e.g. aedes-persistence-redis for a cluster). Default: our
   * in-memory store (memory-persistence.ts), O(1) per message for persistent sessions. A persistence
   * passed here belongs to the caller: close() does not destroy it.
   */
  persistence?: AedesAsyncPersistence;
  /** aedes message emitter (e.g. mqemitter-redis, so several brokers share publishes). Default in-process. */
  mq?: unknown;
}

export interface BrokerStats {
  clients: number;
  messagesIn: number;
  bytesIn: number;
  /** Present when the policy counts denials (see identity/policy.ts). */
  denials?: PolicyCounters;
}

export interface RunningBroker {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  readonly aedes: AedesType;
  /** The persistence aedes was given (options.persistence, or the default in-memory one). */
  readonly persistence: AedesAsyncPersistence;
  stats(): BrokerStats;
  close(): Promise<void>;
}

export const DEFAULT_BROKER_PORT = 1883;

export async function startBroker(opts: BrokerOptions = {}): Promise<RunningBroker> {
  const host = opts.host ?? '127.0.0.1';
  const { Aedes } = await import('aedes');
  const ownPersistence = opts.persistence ? undefined : createMemoryPersistence();
  const persistence = opts.persistence ?? ownPersistence!;
  const aedes = await Aedes.createBroker({
    // Unique per instance: brokers sharing Redis tell each other apart by id.
    id: `vitalgate-${process.pid}-${randomBytes(3).toString('hex')}`,
    ...(opts.mq ? { mq: opts.mq } : {}),
    persistence,
    // Device ids are up to 64 characters; MQTT 3.1.1's 23 is a minimum servers must accept, not a cap.
    maxClientsIdLength: 128,
    drainTimeout: opts.drainTimeout ?? 60_000,
    ...(opts.policy?.authenticate && { authenticate: opts.policy.authenticate }),
    ...(opts.policy?.authorizePublish && { authorizePublish: opts.policy.authorizePublish }),
    ...(opts.policy?.authorizeSubscribe && { authorizeSubscribe: opts.policy.authorizeSubscribe }),
  });
  let messagesIn = 0;
  let bytesIn = 0;
  aedes.on('publish', (packet, client) => {
    if (client) {
      messagesIn++;
      bytesIn += packet.payload.length;
    }
  });
  const server: Server = createServer(aedes.handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? DEFAULT_BROKER_PORT, host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((e: NodeJS.ErrnoException) => {
    aedes.close(() => void ownPersistence?.destroy().catch(() => undefined));
    if (e.code === 'EADDRINUSE') throw new Error(`MQTT port ${host}:${opts.port} is already in use (pass another --mqtt-port, or 0 for a free one)`);
    throw e;
  });
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    host,
    port,
    url: `mqtt://${host.includes(':') ? `[${host}]` : host}:${port}`,
    aedes,
    persistence,
    stats: () => ({ clients: aedes.connectedClients, messagesIn, bytesIn, ...(opts.policy?.stats && { denials: opts.policy.stats() }) }),
    // Memoised: a second close() waits for the first instead of destroying the persistence twice.
    close: () =>
      (closing ??= Promise.all([
        new Promise<void>((resolve) => server.close(() => resolve())),
        // Existing connections keep server.close() pending until aedes ends them. The default
        // persistence is destroyed only after aedes has closed its clients, which still use it.
        new Promise<void>((resolve) => aedes.close(() => resolve())).then(() => ownPersistence?.destroy()),
      ]).then(() => undefined)),
  };
}
