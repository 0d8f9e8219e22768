import type { Command } from 'commander';
import pino from 'pino';
import { createRegistryPolicy, redisBackends, Registry, startBroker, type RegistryPolicy } from '@vitalgate/broker';
import { port } from '../options.js';

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

export function registerBroker(program: Command): void {
  program
    .command('broker')
    .description('run the embedded MQTT broker until Ctrl-C')
    .option('--host <addr>', 'bind address (loopback by default; without --registry the broker does not authenticate and refuses any non-loopback address)', '127.0.0.1')
    .option('-p, --port <port>', 'TCP port (0 = a free one)', port, 1883)
    .option('--redis <url>', 'cluster through Redis (redis://host:port): publishes fan out to every broker sharing it, and sessions and QoS 1 queues live there, so clients can reconnect to any instance')
    .option('--registry <file>', 'turn identity on: devices and gateways from this registry (see `vitalgate devices add`) must log in with id + secret and stay within their topic ACLs; the file is reloaded when it changes (revocation disconnects at once)')
    .addHelpText('after', '\nWithout --registry (today\'s default) any client may connect and publish anywhere, so the broker binds to loopback only.')
    .action(async (o: { host: string; port: number; registry?: string; redis?: string }) => {
      if (!o.registry && !isLoopback(o.host)) {
        throw new Error(`refusing to bind ${o.host} without --registry: an unauthenticated broker must stay on loopback`);
      }
      let policy: RegistryPolicy | undefined;
      let watcher: { close(): void } | undefined;
      if (o.registry) {
        const log = pino({ name: 'broker', level: 'info' }, pino.destination(2));
        const registry = await Registry.load(o.registry);
        policy = createRegistryPolicy(registry, { logger: log });
        watcher = registry.watchFile(o.registry, (e) => log.error({ err: e }, 'registry reload failed; keeping the previous contents'));
        registry.on('reloaded', () => log.info({ registry: o.registry }, 'registry reloaded'));
        const all = registry.list().filter((i) => !i.entry.revokedAt);
        process.stderr.write(`identity on: ${all.filter((i) => i.kind === 'device').length} devices, ${all.filter((i) => i.kind === 'gateway').length} gateways from ${o.registry}\n`);
      } else {
        process.stderr.write('identity off: no --registry, every client is accepted (loopback only)\n');
      }
      const cluster = o.redis ? redisBackends(o.redis) : undefined;
      const b = await startBroker({ host: o.host, port: o.port, ...(policy && { policy }), ...(cluster ?? {}) });
      if (cluster) process.stderr.write(`clustered through ${o.redis}\n`);
      process.stderr.write(`broker listening on ${b.url}\n`);
      // Machine-readable line for supervisors that start us on port 0.
      process.stdout.write(JSON.stringify({ event: 'listening', url: b.url, port: b.port, identity: !!policy }) + '\n');
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      const s = b.stats();
      watcher?.close();
      policy?.close();
      await b.close();
      await cluster?.persistence.destroy();
      (cluster?.mq as { close?: (cb: () => void) => void } | undefined)?.close?.(() => undefined);
      process.stderr.write(`broker stopped after ${s.messagesIn} messages in${s.denials ? `, ${s.denials.total} denials` : ''}\n`);
    });
}
