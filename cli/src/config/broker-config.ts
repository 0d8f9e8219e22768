/**
 * The broker's config file (`vitalgate broker --config broker.yaml`). Every field is optional;
 * command-line flags override the file. Secrets are not in it: TLS keys and the registry are
 * named by path, and the registry holds only scrypt hashes.
 */
import { z } from 'zod';

const port = z.number().int().min(0).max(65535);
const host = z.string().min(1);

const tls = z.strictObject({
  cert: z.string().min(1),
  key: z.string().min(1),
  ca: z.string().min(1).optional(),
  clientCerts: z.enum(['off', 'optional', 'required']).default('off'),
});

const listener = z
  .strictObject({
    protocol: z.enum(['mqtt', 'mqtts', 'ws', 'wss']),
    host: host.default('127.0.0.1'),
    port,
    tls: tls.optional(),
    path: z.string().startsWith('/', 'must start with /').optional(),
  })
  .superRefine((l, ctx) => {
    const secure = l.protocol === 'mqtts' || l.protocol === 'wss';
    if (secure && !l.tls) ctx.addIssue({ code: 'custom', path: ['tls'], message: `a ${l.protocol} listener needs tls: {cert, key}` });
    if (!secure && l.tls) ctx.addIssue({ code: 'custom', path: ['tls'], message: `a ${l.protocol} listener is plain text; use mqtts or wss for TLS` });
    if (l.tls && l.tls.clientCerts !== 'off' && !l.tls.ca) {
      ctx.addIssue({ code: 'custom', path: ['tls', 'ca'], message: `clientCerts: ${l.tls.clientCerts} needs ca, the CA that signs client certificates` });
    }
    if (l.path !== undefined && l.protocol !== 'ws' && l.protocol !== 'wss') {
      ctx.addIssue({ code: 'custom', path: ['path'], message: 'path applies to ws and wss listeners only' });
    }
  });

export const brokerConfigSchema = z.strictObject({
  listeners: z.array(listener).min(1, 'list at least one listener').optional(),
  /** Plain mqtt/ws on a non-loopback address. Off by default: credentials would cross the network in clear. */
  allowPlaintext: z.boolean().default(false),
  registry: z.string().min(1).optional(),
  redis: z.string().regex(/^redis:\/\//, 'must be a redis://host:port URL').optional(),
  /** Single node: sessions and QoS 1 queues in an fsync'd journal here, so they survive restarts. */
  persistenceDir: z.string().min(1).optional(),
  limits: z
    .strictObject({
      maxPayloadBytes: z.number().int().min(64).max(256 * 1024 * 1024).optional(),
      publishRate: z.strictObject({ perSecond: z.number().positive(), burst: z.number().int().min(1) }).optional(),
      maxConcurrentAuth: z.number().int().min(1).max(256).optional(),
      connectAttempts: z.strictObject({ perSecond: z.number().positive(), burst: z.number().int().min(1) }).optional(),
      maxPacketBytes: z.number().int().min(1024).max(256 * 1024 * 1024).optional(),
      maxPendingAuth: z.number().int().min(0).optional(),
      drainTimeoutMs: z.number().int().min(100).optional(),
      connectTimeoutMs: z.number().int().min(100).optional(),
      /** aedes heartbeat; stored wills of clients that died with a broker are swept every 4 heartbeats. */
      heartbeatIntervalMs: z.number().int().min(50).max(3_600_000).optional(),
      /** Acknowledged messages queued for persistent sessions before device readings are held (0: never). */
      maxBacklog: z.number().int().min(0).optional(),
      /** How long a disconnected persistent session still counts toward maxBacklog (default: always). */
      maxBacklogOfflineMs: z.number().int().min(0).optional(),
    })
    .default({}),
  metrics: z.strictObject({ host: host.default('127.0.0.1'), port }).optional(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
});

export type BrokerConfig = z.infer<typeof brokerConfigSchema>;

export const BROKER_CONFIG_EXAMPLE = `# vitalgate broker --config broker.yaml
listeners:
  - { protocol: mqtts, host: 0.0.0.0, port: 8883,
      tls: { cert: /etc/vitalgate/broker.crt, key: /etc/vitalgate/broker.key,
             ca: /etc/vitalgate/devices-ca.crt, clientCerts: optional } }   # CN = device id
  - { protocol: wss, host: 0.0.0.0, port: 8884, path: /mqtt,
      tls: { cert: /etc/vitalgate/broker.crt, key: /etc/vitalgate/broker.key } }
  - { protocol: mqtt, host: 127.0.0.1, port: 1883 }     # loopback: the local gateway
allowPlaintext: false          # true allows mqtt/ws on a non-loopback address
registry: /etc/vitalgate/registry.json                  # vitalgate devices add …
redis: redis://127.0.0.1:6379  # cluster: share sessions and publishes with other brokers
# persistenceDir: /var/lib/vitalgate/broker   # single node instead: sessions survive restarts
limits:
  maxPayloadBytes: 262144
  publishRate: { perSecond: 200, burst: 400 }          # per client; beyond it, held back (backpressure)
  maxConcurrentAuth: 2         # scrypt checks at once; the rest queue
  maxPendingAuth: 32           # queued beyond this: CONNACK 3 (server unavailable)
  connectAttempts: { perSecond: 2, burst: 5 }           # failed logins per (id, address); then CONNACK 3, no hashing
  maxPacketBytes: 524288       # larger MQTT packets cut the connection at their header
  drainTimeoutMs: 60000        # a subscriber that stops reading is dropped after this
  connectTimeoutMs: 10000
  heartbeatIntervalMs: 60000   # stored wills of a crashed broker's clients are swept every 4 heartbeats
  # maxBacklog: 60000          # without redis: queued for the gateway and unacknowledged, beyond it device readings are held (0: never)
  # maxBacklogOfflineMs: 3600000 # a consumer away this long no longer counts toward maxBacklog (default: always counts)
metrics: { host: 127.0.0.1, port: 9464 }               # GET /metrics (Prometheus)
logLevel: info
`;
