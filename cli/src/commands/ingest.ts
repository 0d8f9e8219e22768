import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import pino from 'pino';
import { isLoopbackHost } from '@vitalgate/broker';
import { Wallet } from 'ethers';
import { createProvider, readDeployment } from '@vitalgate/contracts';
import {
  ChainGatewayDirectory, DEFAULT_MAX_BODY_BYTES, DEFAULT_RATE_PER_GATEWAY, EmbeddedCatalog, INGEST_TELEMETRY_FIELDS, InfluxCatalog, InfluxTelemetry,
  LocalObjectStore, MemoryReplayCache, RedisReplayCache, S3ObjectStore, buildIngest, rebuildCatalog, startCareTeamService, type Catalog, type ObjectStore, type ReplayCache,
} from '@vitalgate/ingest';
import { redactUrl } from '@vitalgate/protocol';
import { DASHBOARD_DIR } from '@vitalgate/dashboard';
import { chainDir, startEmbeddedChain, type EmbeddedChain } from '../chain/embedded.js';
import { catalogDir } from '../cloud/embedded-ingest.js';
import { DEFAULT_DATA_DIR, positiveInt } from '../options.js';

interface IngestOpts {
  storageDir?: string; dataDir: string; chainUrl?: string; deployment?: string; host: string; port: number;
  tlsCert?: string; tlsKey?: string; allowPlaintext?: boolean; maxBodyBytes?: number; maxSkewSeconds?: number; logLevel: string;
  s3Bucket?: string; s3Endpoint?: string; s3Region?: string; s3Prefix?: string; s3PathStyle?: boolean; s3NoConditionalWrites?: boolean;
  catalogDir?: string; influx?: string; telemetry: boolean; redis?: string; rateLimit?: number; rebuildCatalog?: boolean;
  clinicians: boolean; dashboard: boolean; publicChainUrl?: string; sessionSecretFile?: string; siweDomain?: string; siweOrigin?: string; auditorKeyFile?: string;
  anchorPeriodSeconds?: number; denialReportSeconds?: number;
}

/** A secret from a file only its owner can read (as ssh wants of a private key); trailing whitespace trimmed. */
export function readSecretFile(path: string, what: string): string {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new Error(`${what}: no file at ${path}`);
  }
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) throw new Error(`${what} ${path} is readable by others (mode ${(st.mode & 0o777).toString(8)}): chmod 600 ${path}`);
  return readFileSync(path, 'utf8').trim();
}

/** The session secret: from the file (shared by every instance), or random for this process. */
function sessionSecret(o: IngestOpts, log: pino.Logger): Uint8Array {
  if (!o.sessionSecretFile) {
    log.warn({}, 'no --session-secret-file: clinician sessions use a random secret of this process, so they end when it restarts and other instances refuse them');
    return randomBytes(32);
  }
  const s = Buffer.from(readSecretFile(o.sessionSecretFile, '--session-secret-file'), 'utf8');
  if (s.length < 32) throw new Error(`--session-secret-file ${o.sessionSecretFile} holds ${s.length} bytes: at least 32 are needed (e.g. openssl rand -hex 32 > FILE)`);
  return s;
}

/** The auditor's key: --auditor-key-file, else on the embedded chain its dev auditor; else none. */
function auditorKey(o: IngestOpts, embedded: EmbeddedChain | undefined): string | undefined {
  if (o.auditorKeyFile) {
    const k = readSecretFile(o.auditorKeyFile, '--auditor-key-file');
    if (!/^(0x)?[0-9a-fA-F]{64}$/.test(k)) throw new Error(`--auditor-key-file ${o.auditorKeyFile} must hold one private key: 64 hex digits (with or without 0x)`);
    return k.startsWith('0x') ? k : `0x${k}`;
  }
  return embedded?.auditorKey;
}

/**
 * The catalog: InfluxDB with --influx (production, and what Grafana reads), else embedded LevelDB
 * in --catalog-dir. Both are checked before listening, so a wrong URL fails at start.
 */
async function openCatalog(o: IngestOpts): Promise<Catalog> {
  if (o.influx) {
    if (o.catalogDir) throw new Error('--catalog-dir and --influx are two different catalogs: give one');
    return InfluxCatalog.connect({ url: o.influx, ...influxCredentials() });
  }
  return EmbeddedCatalog.open(o.catalogDir ?? catalogDir(o.dataDir));
}

/** Credentials may come from the environment, to keep them out of the process list. */
function influxCredentials(): { username?: string; password?: string } {
  return {
    ...(process.env.INFLUX_USERNAME && { username: process.env.INFLUX_USERNAME }),
    ...(process.env.INFLUX_PASSWORD && { password: process.env.INFLUX_PASSWORD }),
  };
}

/**
 * Local storage unless --s3-bucket. The S3 bucket is checked (HeadBucket) before anything else
 * starts, so a wrong name, endpoint or credentials fails here rather than on the first upload.
 * Credentials come only from the AWS SDK's chain (environment, profile, instance role): a flag
 * would put the secret in the process list and shell history.
 */
async function openStore(o: IngestOpts): Promise<{ store: ObjectStore; close(): void }> {
  const s3Only = Object.entries({ '--s3-endpoint': o.s3Endpoint, '--s3-region': o.s3Region, '--s3-prefix': o.s3Prefix, '--s3-path-style': o.s3PathStyle, '--s3-no-conditional-writes': o.s3NoConditionalWrites }).filter(([, v]) => v !== undefined).map(([k]) => k);
  if (!o.s3Bucket) {
    if (s3Only.length) throw new Error(`${s3Only.join(', ')} ${s3Only.length === 1 ? 'needs' : 'need'} --s3-bucket`);
    const store = new LocalObjectStore(o.storageDir ?? join(o.dataDir, 'cloud'));
    return { store, close: () => undefined };
  }
  if (o.storageDir) throw new Error('--storage-dir and --s3-bucket are two different stores: give one');
  const region = o.s3Region ?? process.env.AWS_REGION ?? 'us-east-1';
  const store = await S3ObjectStore.open({
    bucket: o.s3Bucket, region,
    ...(o.s3Endpoint && { endpoint: o.s3Endpoint }),
    ...(o.s3Prefix && { prefix: o.s3Prefix }),
    ...(o.s3PathStyle && { forcePathStyle: true }),
    ...(o.s3NoConditionalWrites && { conditionalWrites: false }),
  });
  return { store, close: () => store.close() };
}

export function registerIngest(program: Command): void {
  program
    .command('ingest')
    .description('the cloud ingest service: takes sealed batches from gateways (signed with their registered chain accounts) and keeps the ciphertext in object storage')
    .option('--storage-dir <dir>', 'local object storage (default: <data-dir>/cloud, where `run` and `start` upload)')
    .option('--s3-bucket <name>', 'keep the ciphertext in this S3 bucket instead of locally (the bucket must exist)')
    .option('--s3-endpoint <url>', 'S3-compatible server (MinIO, Ceph…) instead of AWS')
    .option('--s3-region <region>', 'bucket region (default: $AWS_REGION, else us-east-1)')
    .option('--s3-prefix <prefix>', 'key prefix inside the bucket, ending with "/" (e.g. vitalgate/prod/)')
    .option('--s3-path-style', 'path-style URLs (http://host/bucket/key), which most S3-compatible servers need')
    .option('--s3-no-conditional-writes', 'for an S3-compatible server that ignores or rejects If-None-Match on PUT: look (HEAD) before each write instead')
    .option('--catalog-dir <dir>', 'embedded catalog of which batches exist (default: <data-dir>/cloud-catalog)')
    .addOption(new Option('--influx <url>', 'keep the catalog in InfluxDB 1.x (database "vitalgate", or the URL\'s path) and write request telemetry to "vitalgate_telemetry"').env('INFLUX_URL'))
    .option('--rebuild-catalog', 'rebuild the catalog from object storage (after losing it, or to move it to --influx), print a summary and exit; safe to repeat')
    .option('--no-telemetry', 'with --influx: no request telemetry')
    .addOption(new Option('--redis <url>', 'share the replay cache and rate counters with the other instances behind the same address (redis:// or rediss://)').env('REDIS_URL'))
    .option('--rate-limit <n>', `requests per second each gateway may make (default ${DEFAULT_RATE_PER_GATEWAY})`, positiveInt('--rate-limit'))
    .option('--data-dir <dir>', 'with no --chain-url: the data directory whose embedded chain to use', DEFAULT_DATA_DIR)
    .option('--chain-url <url>', 'EVM JSON-RPC endpoint holding the Registry (with --deployment)')
    .option('--deployment <file>', 'deployment file (default: <data-dir>/chain/deployment.json)')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0: any free port)', (v) => { const n = Number(v); if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`--port ${v}: expected 0..65535`); return n; }, 8443)
    .option('--tls-cert <file>', 'PEM certificate: serve HTTPS (with --tls-key)')
    .option('--tls-key <file>', 'PEM key of --tls-cert')
    .option('--allow-plaintext', 'serve plain HTTP on a non-loopback address (only behind a TLS-terminating proxy you trust)')
    .option('--max-body-bytes <n>', `largest request body (default ${DEFAULT_MAX_BODY_BYTES})`, positiveInt('--max-body-bytes'))
    .option('--max-skew-seconds <s>', 'how far a signature\'s time may be from now (default 300)', positiveInt('--max-skew-seconds'))
    .option('--no-clinicians', 'serve gateways only: no sign-in, no clinician API, no dashboard')
    .option('--no-dashboard', 'do not serve the care-team dashboard at / (the clinician API stays)')
    .option('--public-chain-url <url>', 'the chain JSON-RPC endpoint the dashboard\'s browsers check proofs with, given to every browser: no credentials in it (default: the embedded chain\'s; otherwise proofs show as unchecked)')
    .option('--session-secret-file <file>', 'file (0600) with the secret (32+ bytes) that signs clinician sessions, the same on every instance (default: random per process)')
    .option('--siwe-domain <host>', 'the domain clinicians sign in at, as their Sign-In with Ethereum messages must say (default: this listener\'s host:port)')
    .option('--siwe-origin <url>', 'the origin of the sign-in page, the messages\' URI (default: this listener\'s URL)')
    .option('--auditor-key-file <file>', 'file (0600) with the private key of the account holding Registry.AUDITOR_ROLE: reports denied requests (bans) and anchors the access log (default on the embedded chain: its dev auditor; elsewhere none)')
    .option('--anchor-period-seconds <s>', 'how often the access log is anchored on chain (default 60)', positiveInt('--anchor-period-seconds'))
    .option('--denial-report-seconds <s>', 'how often denied requests are reported to the Registry (default 5)', positiveInt('--denial-report-seconds'))
    .option('--log-level <level>', 'pino log level', 'info')
    .addHelpText('after', `
Plain HTTP is served only on loopback unless --allow-plaintext; elsewhere give --tls-cert and --tls-key.
Several instances behind one address need --redis (a shared replay cache: a signed request is
accepted once across them) and the same storage and catalog. A URL with a password belongs in
REDIS_URL or INFLUX_URL (or INFLUX_USERNAME and INFLUX_PASSWORD), not on the command line, where
the process list shows it; URLs are logged with passwords replaced by ***.
With --s3-bucket, credentials come only from the AWS SDK's default chain, never from flags:
AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), AWS_PROFILE, or an instance
or task role. They are never logged. Permissions and setup: docs/operations.md, "Ingest with S3".
Care teams (docs/access.md): clinicians sign in with Sign-In with Ethereum at /v1/auth and read what
the chain lets them at /v1/clinician; every decision goes to the access log in storage. With the
auditor key, denied requests are reported to the Registry (a clinician is banned at its threshold)
and the access log's Merkle root is anchored through AuditLog; give that key to one instance only.
The API and the request signature are in docs/ingest.md. Prints one JSON line {"event":"ready","url"}
once it listens; SIGINT or SIGTERM stops it.`)
    .action(async (o: IngestOpts) => {
      if (!!o.tlsCert !== !!o.tlsKey) throw new Error('--tls-cert and --tls-key go together');
      if (!o.tlsCert && !isLoopbackHost(o.host) && !o.allowPlaintext) {
        throw new Error(`plain HTTP on ${o.host} would carry gateways' requests in the clear: give --tls-cert and --tls-key, or --allow-plaintext behind a TLS proxy`);
      }
      const log = pino({ level: o.logLevel, name: 'ingest' }, pino.destination(2));
      const closers: Array<() => unknown> = [];
      const closeAll = async (): Promise<void> => {
        for (const c of closers.reverse()) await c();
      };
      try {
        if (o.rebuildCatalog) await rebuild(o, closers);
        else await serve(o, log, closers);
      } finally {
        await closeAll();
      }
    });
}

async function rebuild(o: IngestOpts, closers: Array<() => unknown>): Promise<void> {
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

async function serve(o: IngestOpts, log: pino.Logger, closers: Array<() => unknown>): Promise<void> {
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
