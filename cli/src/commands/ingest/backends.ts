/**
 * What `vitalgate ingest` opens from its options: object storage (local or S3), the catalog
 * (embedded or InfluxDB), and secrets read from files (session secret, auditor key).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type pino from 'pino';
import { EmbeddedCatalog, InfluxCatalog, LocalObjectStore, S3ObjectStore, type Catalog, type ObjectStore } from '@vitalgate/ingest';
import type { EmbeddedChain } from '../../chain/embedded.js';
import { catalogDir } from '../../cloud/embedded-ingest.js';
import type { IngestOpts } from './options.js';

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
export function sessionSecret(o: IngestOpts, log: pino.Logger): Uint8Array {
  if (!o.sessionSecretFile) {
    log.warn({}, 'no --session-secret-file: clinician sessions use a random secret of this process, so they end when it restarts and other instances refuse them');
    return randomBytes(32);
  }
  const s = Buffer.from(readSecretFile(o.sessionSecretFile, '--session-secret-file'), 'utf8');
  if (s.length < 32) throw new Error(`--session-secret-file ${o.sessionSecretFile} holds ${s.length} bytes: at least 32 are needed (e.g. openssl rand -hex 32 > FILE)`);
  return s;
}

/** The auditor's key: --auditor-key-file, else on the embedded chain its dev auditor; else none. */
export function auditorKey(o: IngestOpts, embedded: EmbeddedChain | undefined): string | undefined {
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
export async function openCatalog(o: IngestOpts): Promise<Catalog> {
  if (o.influx) {
    if (o.catalogDir) throw new Error('--catalog-dir and --influx are two different catalogs: give one');
    return InfluxCatalog.connect({ url: o.influx, ...influxCredentials() });
  }
  return EmbeddedCatalog.open(o.catalogDir ?? catalogDir(o.dataDir));
}

/** Credentials may come from the environment, to keep them out of the process list. */
export function influxCredentials(): { username?: string; password?: string } {
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
export async function openStore(o: IngestOpts): Promise<{ store: ObjectStore; close(): void }> {
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
