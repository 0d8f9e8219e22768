/** `vitalgate ingest` running: serving gateways and clinicians, or rebuilding the catalog. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { Wallet } from 'ethers';
import { createProvider, readDeployment } from '@vitalgate/contracts';
import {
  ChainGatewayDirectory, INGEST_TELEMETRY_FIELDS, InfluxTelemetry, MemoryReplayCache, RedisReplayCache, buildIngest, rebuildCatalog, startCareTeamService,
  type ReplayCache,
} from '@vitalgate/ingest';
import { redactUrl } from '@vitalgate/protocol';
import { DASHBOARD_DIR } from '@vitalgate/dashboard';
import { chainDir, startEmbeddedChain, type EmbeddedChain } from '../../chain/embedded.js';
import { auditorKey, influxCredentials, openCatalog, openStore, sessionSecret } from './backends.js';
import type { IngestOpts } from './options.js';

export async function rebuild(o: IngestOpts, closers: Array<() => unknown>): Promise<void> {
  const { store, close: closeStore } = await openStore(o);
  closers.push(closeStore);
  const catalog = await openCatalog(o);
  closers.push(() => catalog.close());
  process.stderr.write(`rebuilding ${catalog.describe()} from ${store.describe()}\n`);
  const started = Date.now();
  const r = await rebuildCatalog(store, catalog, (p) => process.stderr.write(`  ${p.batches} batches, ${p.anchors} anchors cataloged${p.skippedCount ? `, ${p.skippedCount} skipped` : ''}\n`));
  process.stdout.write(JSON.stringify({ event: 'catalog-rebuilt', ...r, seconds: (Date.now() - started) / 1000 }) + '\n');
  if (r.skippedCount) {
    for (const s of r.skipped) process.stderr.write(`  skipped ${s.key}: ${s.reason}\n`);
    throw new Error(`${r.skippedCount} object(s) in storage were not cataloged (listed above): they are not what their keys say`);
  }
}

export async function serve(o: IngestOpts, log: pino.Logger, closers: Array<() => unknown>): Promise<void> {
  const { store, close: closeStore } = await openStore(o);
  closers.push(closeStore);
  const catalog = await openCatalog(o);
  closers.push(() => catalog.close());
  let replay: ReplayCache = new MemoryReplayCache();
  let redis: RedisReplayCache | undefined;
  if (o.redis) {
    redis = new RedisReplayCache(o.redis, { logger: log });
    closers.push(() => redis!.close());
    await redis.waitReady();
    replay = redis;
  }
  const telemetry = o.influx && o.telemetry
    ? new InfluxTelemetry({ url: o.influx, ...influxCredentials(), database: 'vitalgate_telemetry', allowedFields: INGEST_TELEMETRY_FIELDS, warn: (m) => log.warn(m) })
    : undefined;
  if (telemetry) closers.push(() => telemetry.stop());
  let embedded: EmbeddedChain | undefined;
  let url = o.chainUrl;
  let deploymentFile = o.deployment;
  if (!url) {
    embedded = await startEmbeddedChain(chainDir(o.dataDir));
    const chain = embedded;
    closers.push(() => chain.stop());
    url = embedded.url;
    deploymentFile ??= embedded.deploymentFile;
  }
  deploymentFile ??= join(chainDir(o.dataDir), 'deployment.json');
  const deployment = await readDeployment(deploymentFile);
  if (!deployment) throw new Error(`no deployment at ${deploymentFile}`);
  const provider = createProvider(url, deployment.chainId);
  closers.push(() => provider.destroy());
  let careTeams: Awaited<ReturnType<typeof startCareTeamService>> | undefined;
  if (o.clinicians) {
    const listenHost = o.host.includes(':') ? `[${o.host}]` : o.host;
    const origin = o.siweOrigin ?? `${o.tlsCert ? 'https' : 'http'}://${listenHost}:${o.port}`;
    const key = auditorKey(o, embedded);
    careTeams = await startCareTeamService({
      deployment, provider, store, replay, sessionSecret: sessionSecret(o, log),
      siwe: { domain: o.siweDomain ?? new URL(origin).host, origin, chainId: deployment.chainId },
      ...(key && { auditor: new Wallet(key, provider) }),
      ...(o.anchorPeriodSeconds && { anchorPeriodMs: o.anchorPeriodSeconds * 1000 }),
      ...(o.denialReportSeconds && { denialReportMs: o.denialReportSeconds * 1000 }),
      logger: log.child({ part: 'care-teams' }),
    });
    const c = careTeams;
    closers.push(() => c.stop());
  }
  const app = await buildIngest({
    store, catalog, directory: new ChainGatewayDirectory(deployment, provider), replay, logger: log,
    ...(redis && { rateRedis: redis.redis }),
    ...(o.rateLimit && { ratePerGateway: o.rateLimit }),
    ...(telemetry && { telemetry }),
    ...(o.maxBodyBytes && { maxBodyBytes: o.maxBodyBytes }),
    ...(o.maxSkewSeconds && { maxSkewSeconds: o.maxSkewSeconds }),
    ...(o.tlsCert && o.tlsKey && { https: { cert: readFileSync(o.tlsCert), key: readFileSync(o.tlsKey) } }),
    ...(careTeams && { clinicians: careTeams.clinicians }),
    ...(careTeams && o.dashboard && { dashboardDir: DASHBOARD_DIR }),
    ...(careTeams && o.dashboard && (o.publicChainUrl ?? (embedded && url)) && {
      dashboardChain: { rpcUrl: o.publicChainUrl ?? url, chainId: deployment.chainId, dataAnchor: deployment.contracts.DataAnchor, consent: deployment.contracts.Consent },
    }),
  });
  closers.push(() => app.close());
  const listening = await app.listen({ host: o.host, port: o.port });
  if (careTeams && o.port === 0) {
    // Only now is the port known: the sign-in domain and origin default to where we listen.
    const siwe = careTeams.clinicians.siwe;
    if (!o.siweOrigin) siwe.origin = new URL(listening).origin;
    if (!o.siweDomain) siwe.domain = new URL(siwe.origin).host;
  }
  const stopped = new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  const where = {
    storage: store.describe(), catalog: catalog.describe(), replay: redis ? `Redis at ${redis.displayUrl}` : 'in memory (one instance)', ...(telemetry && { telemetry: telemetry.describe() }),
    clinicians: careTeams ? { signIn: careTeams.clinicians.siwe, auditor: careTeams.clinicians.auditor } : null,
  };
  log.info({ url: listening, ...where, chain: redactUrl(url) }, 'ingest listening');
  process.stdout.write(JSON.stringify({ event: 'ready', pid: process.pid, url: listening, ...where }) + '\n');
  await stopped;
}
