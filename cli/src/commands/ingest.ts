import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import pino from 'pino';
import { isLoopbackHost } from '@vitalgate/broker';
import { createProvider, readDeployment } from '@vitalgate/contracts';
import { ChainGatewayDirectory, DEFAULT_MAX_BODY_BYTES, LocalObjectStore, MemoryReplayCache, S3ObjectStore, buildIngest, type ObjectStore } from '@vitalgate/ingest';
import { redactUrl } from '@vitalgate/protocol';
import { chainDir, startEmbeddedChain, type EmbeddedChain } from '../chain/embedded.js';
import { DEFAULT_DATA_DIR, positiveInt } from '../options.js';

interface IngestOpts {
  storageDir?: string; dataDir: string; chainUrl?: string; deployment?: string; host: string; port: number;
  tlsCert?: string; tlsKey?: string; allowPlaintext?: boolean; maxBodyBytes?: number; maxSkewSeconds?: number; logLevel: string;
  s3Bucket?: string; s3Endpoint?: string; s3Region?: string; s3Prefix?: string; s3PathStyle?: boolean;
}

/**
 * Local storage unless --s3-bucket. The S3 bucket is checked (HeadBucket) before anything else
 * starts, so a wrong name, endpoint or credentials fails here rather than on the first upload.
 * Credentials come only from the AWS SDK's chain (environment, profile, instance role): a flag
 * would put the secret in the process list and shell history.
 */
async function openStore(o: IngestOpts): Promise<{ store: ObjectStore; close(): void }> {
  const s3Only = Object.entries({ '--s3-endpoint': o.s3Endpoint, '--s3-region': o.s3Region, '--s3-prefix': o.s3Prefix, '--s3-path-style': o.s3PathStyle }).filter(([, v]) => v !== undefined).map(([k]) => k);
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
    .option('--log-level <level>', 'pino log level', 'info')
    .addHelpText('after', `
Plain HTTP is served only on loopback unless --allow-plaintext; elsewhere give --tls-cert and --tls-key.
With --s3-bucket, credentials come only from the AWS SDK's default chain, never from flags:
AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), AWS_PROFILE, or an instance
or task role. They are never logged. Permissions and setup: docs/operations.md, "Ingest with S3".
The API and the request signature are in docs/ingest.md. Prints one JSON line {"event":"ready","url"}
once it listens; SIGINT or SIGTERM stops it.`)
    .action(async (o: IngestOpts) => {
      if (!!o.tlsCert !== !!o.tlsKey) throw new Error('--tls-cert and --tls-key go together');
      if (!o.tlsCert && !isLoopbackHost(o.host) && !o.allowPlaintext) {
        throw new Error(`plain HTTP on ${o.host} would carry gateways' requests in the clear: give --tls-cert and --tls-key, or --allow-plaintext behind a TLS proxy`);
      }
      const log = pino({ level: o.logLevel, name: 'ingest' }, pino.destination(2));
      const { store, close: closeStore } = await openStore(o);
      let embedded: EmbeddedChain | undefined;
      let url = o.chainUrl;
      let deploymentFile = o.deployment;
      if (!url) {
        embedded = await startEmbeddedChain(chainDir(o.dataDir));
        url = embedded.url;
        deploymentFile ??= embedded.deploymentFile;
      }
      deploymentFile ??= join(chainDir(o.dataDir), 'deployment.json');
      const deployment = await readDeployment(deploymentFile);
      if (!deployment) throw new Error(`no deployment at ${deploymentFile}`);
      const provider = createProvider(url, deployment.chainId);
      const app = await buildIngest({
        store, directory: new ChainGatewayDirectory(deployment, provider), replay: new MemoryReplayCache(), logger: log,
        ...(o.maxBodyBytes && { maxBodyBytes: o.maxBodyBytes }),
        ...(o.maxSkewSeconds && { maxSkewSeconds: o.maxSkewSeconds }),
        ...(o.tlsCert && o.tlsKey && { https: { cert: readFileSync(o.tlsCert), key: readFileSync(o.tlsKey) } }),
      });
      const listening = await app.listen({ host: o.host, port: o.port });
      const stopped = new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      log.info({ url: listening, storage: store.describe(), chain: redactUrl(url) }, 'ingest listening');
      process.stdout.write(JSON.stringify({ event: 'ready', pid: process.pid, url: listening, storage: store.describe() }) + '\n');
      await stopped;
      await app.close();
      closeStore();
      provider.destroy();
      await embedded?.stop();
    });
}
