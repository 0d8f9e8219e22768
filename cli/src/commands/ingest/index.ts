/** `vitalgate ingest`: the cloud ingest service (options and help; serve.ts runs it). */
import { Option, type Command } from 'commander';
import pino from 'pino';
import { isLoopbackHost } from '@vitalgate/broker';
import { DEFAULT_MAX_BODY_BYTES, DEFAULT_RATE_PER_GATEWAY } from '@vitalgate/ingest';
import { DEFAULT_DATA_DIR, positiveInt } from '../../options.js';
import type { IngestOpts } from './options.js';
import { rebuild, serve } from './serve.js';

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
