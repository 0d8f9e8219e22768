/**
 * The cloud half, measured with every part in its own process as in production (broker, gateway,
 * ingest from the built CLI; s3rver and anvil as children):
 *
 * A. Spool drain after an ingest outage: --cloud-devices devices publish (ECG frames at 10/s,
 *    heart rate and SpO2 at 1/s, QoS 1) to a gateway whose ingest is down for
 *    --cloud-outage-seconds; then ingest starts and the devices keep publishing. Drain time = until
 *    every batch indexed during the outage is confirmed by ingest. Afterwards every indexed batch
 *    is confirmed exactly once and stored, and nothing else is stored.
 * B. Upload throughput with nothing else running: the gateway re-sends its whole spool (the
 *    batches of A) to a fresh ingest on local storage, then to one on S3; beside it, the same
 *    objects PUT straight to the same S3 server by a bare @aws-sdk/client-s3 loop with the
 *    gateway's upload concurrency. ratio = ingest-on-S3 rate / bare rate (target ≥ 0.8: ingest adds
 *    at most 25 %).
 * C. Catalog writes/s: the embedded catalog against InfluxDB (Debian's influxd), one at a time and
 *    16 at a time.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import mqtt from 'mqtt';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ANVIL_DEV_KEYS, createProvider, deployOrLoad, startAnvil } from '@vitalgate/contracts';
import { EmbeddedCatalog, InfluxCatalog, type Catalog, type CatalogBatch } from '@vitalgate/ingest';
import { encodeBody, readingTopic } from '@vitalgate/protocol';
import { findProgram, freePort, startInfluxd, startS3Server } from '@vitalgate/test-support';
import { Child, CLI_MAIN, round1, sleep, startBrokerProcess, startGatewayProcess, type Log } from './procs.js';

export interface CloudOptions {
  devices: number;
  outageSeconds: number;
  dir: string;
  passphraseFile: string;
  log: Log;
  onCleanup: (f: () => Promise<void>) => void;
}

export interface UploadRun { batches: number; megabytes: number; seconds: number; batchesPerSec: number; megabytesPerSec: number }

export interface CloudResult {
  devices: number;
  outageSeconds: number;
  drain: {
    batchesDuringOutage: number; megabytesDuringOutage: number; drainSeconds: number; uploadBatchesPerSec: number;
    indexed: number; confirmed: number; stored: number; missing: number; duplicated: number; extra: number;
  };
  upload: { toLocal: UploadRun; toS3: UploadRun; bareS3: UploadRun; ratioS3VsBare: number; concurrency: number };
  catalog: {
    batches: number;
    embedded: { sequentialPerSec: number; concurrentPerSec: number };
    influx: { sequentialPerSec: number; concurrentPerSec: number } | null;
  };
  targets: { drainUnder30s: boolean; ingestWithin25PercentOfBareS3: boolean; nothingLost: boolean };
}

const BUCKET = 'vitalgate-bench';
const BARE_BUCKET = 'vitalgate-bench-bare';
/** The gateway's default upload concurrency (edge-gateway DEFAULT_UPLOAD_CONCURRENCY). */
const CONCURRENCY = 8;

interface IndexLine { id: string; bytes: number; pack: string; offset: number; patientId: string }

async function jsonLines<T>(path: string): Promise<T[]> {
  if (!existsSync(path)) return [];
  const out: T[] = [];
  for (const l of (await readFile(path, 'utf8')).split('\n')) {
    if (!l) continue;
    try {
      out.push(JSON.parse(l) as T);
    } catch { /* a line being written */ }
  }
  return out;
}

const confirmedBatches = async (gwDir: string): Promise<string[]> =>
  (await jsonLines<{ id: string }>(join(gwDir, 'uploads.jsonl'))).map((u) => u.id).filter((id) => !id.includes(':'));

async function filesUnder(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
}

function run(batches: number, bytes: number, ms: number): UploadRun {
  const seconds = ms / 1000;
  return { batches, megabytes: round1(bytes / 1e6), seconds: round1(seconds), batchesPerSec: Math.round(batches / seconds), megabytesPerSec: round1(bytes / 1e6 / seconds) };
}

export async function runCloud(o: CloudOptions): Promise<CloudResult> {
  const { log } = o;
  await mkdir(o.dir, { recursive: true });
  const anvil = await startAnvil();
  o.onCleanup(() => anvil.stop());
  const provider = createProvider(anvil.url, anvil.chainId);
  o.onCleanup(async () => provider.destroy());
  const deploymentFile = join(o.dir, 'deployment.json');
  await deployOrLoad(new Wallet(ANVIL_DEV_KEYS[0]!, provider), deploymentFile);
  const adminFile = join(o.dir, 'admin');
  await writeFile(adminFile, `${ANVIL_DEV_KEYS[0]!}\n`, { mode: 0o600 });
  const s3 = await startS3Server(join(o.dir, 's3'), { buckets: [BUCKET, BARE_BUCKET], conditionalWrites: true });
  o.onCleanup(() => s3.stop());
  const awsEnv = { AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey };
  const chain = ['--chain-url', anvil.url, '--deployment', deploymentFile];
  const port = await freePort();
  const ingestUrl = `http://127.0.0.1:${port}`;
  const startIngest = async (name: string, storage: string[]): Promise<Child> => {
    const child = new Child(name, CLI_MAIN, ['ingest', '--data-dir', join(o.dir, name), '--port', String(port), ...chain, ...storage, '--log-level', 'warn'], log, { env: awsEnv });
    await child.waitFor('ready', 30_000);
    return child;
  };
  const gwDir = join(o.dir, 'gw');
  const gwArgs = [...chain, '--chain-admin-key-file', adminFile, '--anchor-seconds', '5', '--ingest', ingestUrl, '--status-seconds', '0'];

  // ---------------------------------------------------------------- A: outage, then drain
  const broker = await startBrokerProcess(log, 'cloud-broker');
  let gateway = await startGatewayProcess(log, broker.url, gwDir, o.passphraseFile, 'cloud-gateway', gwArgs);
  log(`cloud A: ${o.devices} devices publish while ingest is down for ${o.outageSeconds} s`);
  let running = true;
  let published = 0;
  const T0 = Date.now();
  const devices = Array.from({ length: o.devices }, async (_, d) => {
    const dev = await mqtt.connectAsync(broker.url, { clientId: `cloud-dev-${d}`, reconnectPeriod: 1000 });
    const patient = `cloud-p${d}`;
    const device = `cloud-dev-${d}`;
    let seq = 0;
    const start = Date.now() + Math.random() * 1000;
    for (let tick = 0; running; tick++) {
      const due = start + tick * 100;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      const ts = T0 + tick * 100;
      const sends = [dev.publishAsync(readingTopic(patient, device, 'ecg'), Buffer.from(encodeBody({ seq: seq++, ts, rate: 250, samples: Array.from({ length: 25 }, (_, i) => Math.round(800 * Math.sin((tick * 25 + i) / 20))) }, 'cbor')), { qos: 1 })];
      if (tick % 10 === 0) {
        sends.push(dev.publishAsync(readingTopic(patient, device, 'hr'), Buffer.from(encodeBody({ seq: seq++, ts, values: { hr: 60 + (tick % 30) } }, 'cbor')), { qos: 1 }));
        sends.push(dev.publishAsync(readingTopic(patient, device, 'spo2'), Buffer.from(encodeBody({ seq: seq++, ts, values: { spo2: 95 + (tick % 4) } }, 'cbor')), { qos: 1 }));
      }
      await Promise.all(sends);
      published += sends.length;
    }
    await dev.endAsync();
  });
  const outageEnd = Date.now() + o.outageSeconds * 1000;
  while (Date.now() < outageEnd) {
    await sleep(Math.min(10_000, outageEnd - Date.now()));
    log(`cloud A: ingest down, ${published} readings published, ${(await jsonLines<IndexLine>(join(gwDir, 'index.jsonl'))).length} batches waiting`);
  }
  const backlog = await jsonLines<IndexLine>(join(gwDir, 'index.jsonl'));
  const backlogIds = new Set(backlog.map((r) => r.id));
  const backlogBytes = backlog.reduce((n, r) => n + r.bytes, 0);
  const ingestA = await startIngest('ingest-local-a', ['--storage-dir', join(o.dir, 'cloud-a')]);
  const upAt = Date.now();
  log(`cloud A: ingest up with ${backlog.length} batches (${round1(backlogBytes / 1e6)} MB) waiting; devices keep publishing`);
  let drainMs = Number.NaN;
  for (let last = 0; Date.now() - upAt < 300_000;) {
    const confirmed = new Set(await confirmedBatches(gwDir));
    let left = 0;
    for (const id of backlogIds) if (!confirmed.has(id)) left++;
    if (left === 0) {
      drainMs = Date.now() - upAt;
      break;
    }
    if (Date.now() - last > 5000) {
      last = Date.now();
      log(`cloud A: draining, ${left} of the outage's batches left`);
    }
    await sleep(100);
  }
  log(`cloud A: drained in ${round1(drainMs / 1000)} s; stopping the devices`);
  running = false;
  await Promise.all(devices);
  // Let the gateway seal and upload the rest, then check that everything reconciles.
  for (const end = Date.now() + 60_000; Date.now() < end; await sleep(500)) {
    const idx = await jsonLines<IndexLine>(join(gwDir, 'index.jsonl'));
    if (idx.length && (await confirmedBatches(gwDir)).length >= idx.length) break;
  }
  await gateway.stop(30_000);
  await ingestA.stop(10_000);
  const indexed = await jsonLines<IndexLine>(join(gwDir, 'index.jsonl'));
  const confirmedList = await confirmedBatches(gwDir);
  const confirmedSet = new Set(confirmedList);
  const stored = new Set(await filesUnder(join(o.dir, 'cloud-a', 'batches')));
  const indexedIds = new Set(indexed.map((r) => r.id));
  const drain = {
    batchesDuringOutage: backlog.length, megabytesDuringOutage: round1(backlogBytes / 1e6), drainSeconds: round1(drainMs / 1000),
    uploadBatchesPerSec: Math.round(backlog.length / (drainMs / 1000)),
    indexed: indexed.length, confirmed: confirmedList.length, stored: stored.size,
    missing: [...indexedIds].filter((id) => !confirmedSet.has(id) || !stored.has(id)).length,
    duplicated: confirmedList.length - confirmedSet.size,
    extra: [...stored].filter((id) => !indexedIds.has(id)).length,
  };

  // ---------------------------------------------------------------- B: throughput, nothing else running
  const totalBytes = indexed.reduce((n, r) => n + r.bytes, 0);
  const resend = async (name: string, storage: string[]): Promise<UploadRun> => {
    await rm(join(gwDir, 'uploads.jsonl'), { force: true });
    const ingest = await startIngest(name, storage);
    gateway = await startGatewayProcess(log, broker.url, gwDir, o.passphraseFile, `cloud-gateway-${name}`, gwArgs);
    // From the gateway's ready line: its start (keystore, chain) is not upload time.
    const t = Date.now();
    for (let last = 0; ; await sleep(100)) {
      const n = (await confirmedBatches(gwDir)).length;
      if (n >= indexed.length) break;
      if (Date.now() - last > 5000) {
        last = Date.now();
        log(`cloud B (${name}): ${n} of ${indexed.length} batches uploaded`);
      }
      if (Date.now() - t > 600_000) throw new Error(`${name}: upload did not finish in 10 min`);
    }
    const r = run(indexed.length, totalBytes, Date.now() - t);
    await gateway.stop(30_000);
    await ingest.stop(10_000);
    return r;
  };
  log(`cloud B: the gateway uploads its ${indexed.length} batches (${round1(totalBytes / 1e6)} MB) to ingest on local storage`);
  const toLocal = await resend('ingest-local-b', ['--storage-dir', join(o.dir, 'cloud-b')]);
  log(`cloud B: the same to ingest on S3 (s3rver on loopback)`);
  const toS3 = await resend('ingest-s3', ['--s3-bucket', BUCKET, '--s3-endpoint', s3.endpoint, '--s3-path-style']);
  log(`cloud B: the same objects PUT straight to the same S3 server, ${CONCURRENCY} at a time`);
  const client = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: 'us-east-1', credentials: s3.credentials });
  await client.send(new CreateBucketCommand({ Bucket: BARE_BUCKET })).catch(() => undefined);
  const packs = new Map<string, Buffer>();
  for (const r of indexed) if (!packs.has(r.pack)) packs.set(r.pack, await readFile(join(gwDir, 'store', 'packs', `${r.pack}.vgp`)));
  let next = 0;
  const tBare = Date.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < indexed.length) {
      const r = indexed[next++]!;
      const body = packs.get(r.pack)!.subarray(r.offset, r.offset + r.bytes);
      await client.send(new PutObjectCommand({ Bucket: BARE_BUCKET, Key: `batches/${r.patientId}/${r.id}`, Body: body, IfNoneMatch: '*' }));
    }
  }));
  const bareS3 = run(indexed.length, totalBytes, Date.now() - tBare);
  client.destroy();
  await broker.child.stop(5000);

  // ---------------------------------------------------------------- C: catalog writes
  const N = 3000;
  const rows: CatalogBatch[] = indexed.slice(0, N).map((r, i) => ({
    id: r.id, patientId: `0x${String(i % 100).padStart(40, '0')}`, stream: 'ecg', deviceId: 'bench', epoch: 1, seq: i, firstTs: 1767225600000 + i, lastTs: 1767225600000 + i + 99, count: 10, bytes: r.bytes,
  }));
  const writes = async (catalog: Catalog): Promise<{ sequentialPerSec: number; concurrentPerSec: number }> => {
    const half = Math.floor(rows.length / 2);
    let t = Date.now();
    for (const b of rows.slice(0, half)) await catalog.addBatch(b);
    const sequentialPerSec = Math.round(half / ((Date.now() - t) / 1000));
    const rest = rows.slice(half);
    let i = 0;
    t = Date.now();
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (i < rest.length) await catalog.addBatch(rest[i++]!);
    }));
    return { sequentialPerSec, concurrentPerSec: Math.round(rest.length / ((Date.now() - t) / 1000)) };
  };
  log(`cloud C: ${rows.length} catalog writes, embedded`);
  const embeddedCatalog = await EmbeddedCatalog.open(join(o.dir, 'catalog-embedded'));
  const embedded = await writes(embeddedCatalog);
  await embeddedCatalog.close();
  let influx: CloudResult['catalog']['influx'] = null;
  if (findProgram('influxd')) {
    log(`cloud C: ${rows.length} catalog writes, InfluxDB`);
    const node = await startInfluxd(join(o.dir, 'influx'));
    o.onCleanup(() => node.stop());
    const cat = await InfluxCatalog.connect({ url: node.url });
    influx = await writes(cat);
    await cat.close();
    await node.stop();
  } else {
    if (process.env.CI === 'true') throw new Error('influxd is not installed (apt-get install influxdb); CI must measure the InfluxDB catalog');
    log('\x1b[33m!!! cloud C: influxd not installed (apt-get install influxdb): the InfluxDB catalog is NOT measured\x1b[0m');
  }

  const ratio = Math.round((toS3.batchesPerSec / bareS3.batchesPerSec) * 100) / 100;
  return {
    devices: o.devices, outageSeconds: o.outageSeconds, drain,
    upload: { toLocal, toS3, bareS3, ratioS3VsBare: ratio, concurrency: CONCURRENCY },
    catalog: { batches: rows.length, embedded, influx },
    targets: {
      drainUnder30s: drainMs < 30_000,
      ingestWithin25PercentOfBareS3: ratio >= 0.8,
      nothingLost: drain.missing === 0 && drain.duplicated === 0 && drain.extra === 0 && drain.confirmed === drain.indexed,
    },
  };
}
