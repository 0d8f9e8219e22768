import { redactUrl } from '@vitalgate/protocol';
import { InvalidArgumentError, type Command } from 'commander';
import pino, { type Logger } from 'pino';
import {
  createRegistryPolicy,
  isLoopbackHost,
  limitConnectAttempts,
  DEFAULT_MAX_BACKLOG,
  openFilePersistence,
  redisBackends,
  Registry,
  serveMetrics,
  startBroker,
  type ListenerOptions,
  type RegistryPolicy,
} from '@vitalgate/broker';
import { loadConfig } from '../config/load.js';
import { BROKER_CONFIG_EXAMPLE, brokerConfigSchema, type BrokerConfig } from '../config/broker-config.js';
import { nonNegativeInt, port, positiveInt } from '../options.js';

interface BrokerFlags {
  config?: string;
  host: string;
  port: number | false;
  tlsPort?: number;
  wsPort?: number;
  wssPort?: number;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  clientCerts?: 'off' | 'optional' | 'required';
  allowPlaintext?: boolean;
  registry?: string;
  redis?: string;
  persistenceDir?: string;
  metricsPort?: number;
  heartbeatMs?: number;
  maxBacklog?: number;
  logLevel?: BrokerConfig['logLevel'];
}

function portOrOff(v: string): number | false {
  return v === 'off' ? false : port(v);
}

function clientCertMode(v: string): 'off' | 'optional' | 'required' {
  if (v !== 'off' && v !== 'optional' && v !== 'required') throw new InvalidArgumentError('must be off, optional or required');
  return v;
}

/** The file's settings with the flags given on the command line laid over them. */
export function effectiveBrokerConfig(o: BrokerFlags, fromCli: (flag: keyof BrokerFlags) => boolean): BrokerConfig {
  const cfg = o.config ? loadConfig(o.config, brokerConfigSchema) : brokerConfigSchema.parse({});
  const listenerFlags = (['host', 'port', 'tlsPort', 'wsPort', 'wssPort'] as const).some(fromCli);
  if (!cfg.listeners || listenerFlags) {
    const tls = (): NonNullable<ListenerOptions['tls']> => {
      if (!o.tlsCert || !o.tlsKey) throw new Error('--tls-port and --wss-port need --tls-cert and --tls-key');
      return { cert: o.tlsCert, key: o.tlsKey, ...(o.tlsCa && { ca: o.tlsCa }), clientCerts: o.clientCerts ?? (o.tlsCa ? 'optional' : 'off') };
    };
    const ls: NonNullable<BrokerConfig['listeners']> = [];
    if (o.port !== false) ls.push({ protocol: 'mqtt', host: o.host, port: o.port });
    if (o.tlsPort !== undefined) ls.push({ protocol: 'mqtts', host: o.host, port: o.tlsPort, tls: tls() as never });
    if (o.wsPort !== undefined) ls.push({ protocol: 'ws', host: o.host, port: o.wsPort });
    if (o.wssPort !== undefined) ls.push({ protocol: 'wss', host: o.host, port: o.wssPort, tls: tls() as never });
    if (ls.length === 0) throw new Error('no listener: --port off leaves nothing to listen on (add --tls-port, --ws-port or --wss-port)');
    cfg.listeners = ls;
  }
  if (fromCli('allowPlaintext')) cfg.allowPlaintext = !!o.allowPlaintext;
  if (o.registry !== undefined) cfg.registry = o.registry;
  if (o.redis !== undefined) cfg.redis = o.redis;
  if (o.persistenceDir !== undefined) cfg.persistenceDir = o.persistenceDir;
  if (cfg.redis && cfg.persistenceDir) throw new Error('--persistence-dir and --redis do not go together: with --redis, sessions and queues live in Redis');
  if (o.heartbeatMs !== undefined) cfg.limits.heartbeatIntervalMs = o.heartbeatMs;
  if (o.maxBacklog !== undefined) cfg.limits.maxBacklog = o.maxBacklog;
  if (cfg.redis && cfg.limits.maxBacklog) throw new Error('--max-backlog (limits.maxBacklog) does not go with --redis: the queues live in Redis, where the broker cannot count them; leave it out or set it to 0');
  if (o.metricsPort !== undefined) cfg.metrics = { host: cfg.metrics?.host ?? '127.0.0.1', port: o.metricsPort };
  if (fromCli('logLevel') && o.logLevel) cfg.logLevel = o.logLevel;
  checkExposure(cfg);
  return cfg;
}

/** Refuses configurations that would put credentials or an open broker on a network. */
function checkExposure(cfg: BrokerConfig): void {
  for (const l of cfg.listeners ?? []) {
    if (isLoopbackHost(l.host)) continue;
    if (!cfg.registry) throw new Error(`refusing to listen on ${l.host} without a registry: an unauthenticated broker must stay on loopback (add --registry)`);
    if ((l.protocol === 'mqtt' || l.protocol === 'ws') && !cfg.allowPlaintext) {
      throw new Error(`refusing plain ${l.protocol} on ${l.host}: secrets would cross the network in clear (use mqtts/wss, or --allow-plaintext on a network you trust)`);
    }
  }
}

export function registerBroker(program: Command): void {
  program
    .command('broker')
    .description('run the MQTT broker (TCP, TLS, WebSocket) until Ctrl-C')
    .option('-c, --config <file>', 'YAML config file (see below); flags override it')
    .option('--host <addr>', 'bind address of the listeners given by flags', '127.0.0.1')
    .option('-p, --port <port>', 'plain MQTT port (0 = a free one, off = none)', portOrOff, 1883)
    .option('--tls-port <port>', 'MQTT over TLS (mqtts) port; needs --tls-cert and --tls-key', port)
    .option('--ws-port <port>', 'MQTT over WebSocket port (path /mqtt), for browser tools', port)
    .option('--wss-port <port>', 'MQTT over secure WebSocket port (path /mqtt); needs --tls-cert and --tls-key', port)
    .option('--tls-cert <file>', 'PEM certificate chain for mqtts/wss')
    .option('--tls-key <file>', 'PEM private key for mqtts/wss')
    .option('--tls-ca <file>', 'PEM CA for client certificates: a verified certificate whose CN is a registered id logs in without a password')
    .option('--client-certs <mode>', 'off | optional | required (default optional with --tls-ca, else off)', clientCertMode)
    .option('--allow-plaintext', 'allow plain mqtt/ws on a non-loopback address (secrets cross the network in clear)')
    .option('--registry <file>', 'turn identity on: devices and gateways from this registry (see `vitalgate devices add`) must log in with id + secret (or a client certificate) and stay within their topic ACLs; the file is reloaded when it changes (revocation disconnects at once)')
    .option('--redis <url>', 'cluster through Redis (redis://host:port): publishes fan out to every broker sharing it, and sessions and QoS 1 queues live there, so clients can reconnect to any instance')
    .option('--persistence-dir <dir>', "single node: keep sessions, subscriptions, retained messages, wills and QoS 1 queues in an fsync'd journal in <dir>, so they survive a restart or a crash (a PUBACK then means the message is on disk); not with --redis")
    .option('--heartbeat-ms <ms>', 'broker heartbeat (default 60000); wills left by clients of a crashed broker are published (if their owner may) every 4 heartbeats', positiveInt('--heartbeat-ms'))
    .option('--max-backlog <n>', `backpressure: while this many acknowledged messages are queued for the gateway (persistent sessions) and not yet acknowledged by it, device readings are held before they are acknowledged, so devices slow down instead of the broker's memory growing (default ${DEFAULT_MAX_BACKLOG}; 0 = never; not with --redis)`, nonNegativeInt('--max-backlog'))
    .option('--metrics-port <port>', 'serve Prometheus metrics on http://127.0.0.1:<port>/metrics', port)
    .option('--log-level <level>', 'fatal | error | warn | info | debug | trace', 'info')
    .addHelpText(
      'after',
      `
Without --registry any client may connect and publish anywhere, so every listener must be on
loopback. With a registry, non-loopback listeners must be mqtts or wss unless --allow-plaintext.
Listener flags (--host, --port, --tls-port, --ws-port, --wss-port) replace the file's listeners.

Examples:
  vitalgate broker                                        # demo: mqtt://127.0.0.1:1883, no identity
  vitalgate broker --registry reg.json --host 0.0.0.0 --port off \\
      --tls-port 8883 --tls-cert broker.crt --tls-key broker.key --tls-ca devices-ca.crt
  vitalgate broker --config broker.yaml --metrics-port 9464

Config file example:

${BROKER_CONFIG_EXAMPLE}`,
    )
    .action(async (o: BrokerFlags, cmd: Command) => {
      const cfg = effectiveBrokerConfig(o, (f) => cmd.getOptionValueSource(f) === 'cli' || (f === 'port' && o.port === false));
      const log: Logger = pino({ name: 'broker', level: cfg.logLevel }, pino.destination(2));
      let policy: RegistryPolicy | undefined;
      let watcher: { close(): void } | undefined;
      if (cfg.registry) {
        const registryPath = cfg.registry;
        const registry = await Registry.load(registryPath);
        policy = limitConnectAttempts(
          createRegistryPolicy(registry, {
            logger: log,
            ...(cfg.limits.maxPayloadBytes !== undefined && { maxPayloadBytes: cfg.limits.maxPayloadBytes }),
            ...(cfg.limits.publishRate && { publishRate: cfg.limits.publishRate }),
            ...(cfg.limits.maxConcurrentAuth !== undefined && { maxConcurrentAuth: cfg.limits.maxConcurrentAuth }),
            ...(cfg.limits.maxPendingAuth !== undefined && { maxPendingAuth: cfg.limits.maxPendingAuth }),
          }),
          cfg.limits.connectAttempts ? { perUsername: cfg.limits.connectAttempts } : {},
        );
        watcher = registry.watchFile(registryPath, (e) => log.error({ err: e }, 'registry reload failed; keeping the previous contents'));
        registry.on('reloaded', () => log.info({ registry: registryPath }, 'registry reloaded'));
        const all = registry.list().filter((i) => !i.entry.revokedAt);
        log.info({ registry: registryPath, devices: all.filter((i) => i.kind === 'device').length, gateways: all.filter((i) => i.kind === 'gateway').length }, 'identity on');
      } else {
        log.warn('identity off: no registry, every client is accepted (loopback only)');
      }
      const cluster = cfg.redis ? redisBackends(cfg.redis) : undefined;
      const durable = cfg.persistenceDir ? await openFilePersistence({ dir: cfg.persistenceDir }) : undefined;
      if (durable) log.info({ dir: cfg.persistenceDir }, 'sessions and QoS 1 queues journalled to disk');
      const b = await startBroker({
        listeners: cfg.listeners!,
        logger: log,
        ...(policy && { policy }),
        ...(cluster ?? {}),
        ...(durable && { persistence: durable }),
        ...(cfg.limits.maxPacketBytes !== undefined && { maxPacketBytes: cfg.limits.maxPacketBytes }),
        ...(cfg.limits.drainTimeoutMs !== undefined && { drainTimeout: cfg.limits.drainTimeoutMs }),
        ...(cfg.limits.connectTimeoutMs !== undefined && { connectTimeout: cfg.limits.connectTimeoutMs }),
        ...(cfg.limits.heartbeatIntervalMs !== undefined && { heartbeatIntervalMs: cfg.limits.heartbeatIntervalMs }),
        ...(cfg.limits.maxBacklog !== undefined && { maxBacklog: cfg.limits.maxBacklog }),
        ...(cfg.limits.maxBacklogOfflineMs !== undefined && { maxBacklogOfflineMs: cfg.limits.maxBacklogOfflineMs }),
      });
      if (cluster) log.info({ redis: redactUrl(cfg.redis!) }, 'clustered through Redis');
      const metrics = cfg.metrics ? await serveMetrics(b.metrics.registry, cfg.metrics.port, cfg.metrics.host) : undefined;
      if (metrics) log.info({ url: metrics.url }, 'metrics');
      // Machine-readable line for supervisors that start us on port 0.
      process.stdout.write(
        JSON.stringify({
          event: 'listening',
          url: b.url,
          port: b.port,
          listeners: b.listeners.map((l) => ({ protocol: l.protocol, url: l.url, port: l.port })),
          ...(metrics && { metrics: metrics.url }),
          identity: !!policy,
        }) + '\n',
      );
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      const s = b.stats();
      watcher?.close();
      policy?.close();
      await metrics?.close();
      await b.close();
      await durable?.destroy();
      await cluster?.persistence.destroy();
      (cluster?.mq as { close?: (cb: () => void) => void } | undefined)?.close?.(() => undefined);
      log.info({ messagesIn: s.messagesIn, denials: s.denials?.total ?? 0, ...(s.backpressure && { readingsHeld: s.backpressure.held }) }, 'broker stopped');
    });
}
