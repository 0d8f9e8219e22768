/**
 * The cloud half, measured with every part in its own process as in production (broker, gateway,
 * ingest from the built CLI; s3rver, anvil and influxd as children):
 *
 * A. Spool drain after an ingest outage: --cloud-devices simulated devices (device-sim, profile
 *    "mixed": ECG, PPG, HR, SpO2, temperature; CBOR, QoS 1) publish to a gateway whose ingest is
 *    down for --cloud-outage-seconds; then ingest starts and the devices keep publishing. Drain time
 *    = from ingest's ready line until every batch indexed during the outage is confirmed by ingest,
 *    split into waiting (until the gateway's next try, its backoff) and uploading. Afterwards every
 *    indexed batch is confirmed exactly once and stored, and nothing else is stored.
 * B. Upload throughput with nothing else running: the gateway uploads a slice of A's sealed batches
 *    (up to UPLOAD_BATCHES, in index order: every stream of every device) to a fresh ingest on local
 *    storage, then to one on S3 (s3rver on loopback), through its real spool (uploads.jsonl says the
 *    rest is confirmed already). Beside it, the same objects PUT straight to the same S3 server by a
 *    bare @aws-sdk/client-s3 loop at the gateway's upload concurrency, with the request ingest sends
 *    (SHA-256 checksum, If-None-Match: *). ratio = ingest-on-S3 rate / bare rate (target ≥ 0.8:
 *    ingest adds at most 25 %). CPU of each process is measured, to show where the time goes.
 * C. Catalog writes/s: the embedded catalog against InfluxDB (Debian's influxd), one at a time, 16 at
 *    a time, and in bundles of 64 (addBatches, as ingest catalogs a bundle).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, open, readFile, readdir, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ANVIL_DEV_KEYS, createProvider, deployOrLoad, startAnvil } from '@vitalgate/contracts';
import { Simulation } from '@vitalgate/device-sim';
import { dataDirLayout, DEFAULT_UPLOAD_CONCURRENCY } from '@vitalgate/edge-gateway';
import { EmbeddedCatalog, InfluxCatalog, type Catalog, type CatalogBatch } from '@vitalgate/ingest';
import type { StreamName } from '@vitalgate/protocol';
import { findProgram, freePort, startInfluxd, startS3Server } from '@vitalgate/test-support';
import { Child, CLI_MAIN, sleep, withTimeout, type Log } from '../harness/child.js';
import { CpuMeter, fmtCpu, procCpuSeconds, round1 } from '../harness/cpu-meter.js';
import { startBrokerProcess, startGatewayProcess } from '../harness/launchers.js';

export interface CloudOptions {
  devices: number;
  outageSeconds: number;
  dir: string;
  passphraseFile: string;
  log: Log;
  onCleanup: (f: () => Promise<void>) => void;
}

export interface UploadRun {
  batches: number; megabytes: number; seconds: number; batchesPerSec: number; megabytesPerSec: number;
  /** Requests in flight: the gateway's (bundles) for ingest runs, PUTs for bare runs. */
  concurrency: number;
  /** % of one core per process over the run (bench = this process: the poller, or the bare S3 client). */
  cpuPercent: Record<string, number>;
  /** CPU milliseconds per batch, per process. */
  cpuMsPerBatch: Record<string, number>;
  /**
   * Ingest runs: batches uploaded first, untimed (the index's first batches of every patient), and
   * how long they took from the gateway's ready line: a fresh gateway process checks each patient's
   * registration on chain, one patient at a time, before its first upload; ingest's directory cache
   * fills meanwhile.
   */
  warmup?: { batches: number; seconds: number };
}

export interface CatalogRates { sequentialPerSec: number; concurrentPerSec: number; bundlesPerSec: number }

export interface CloudResult {
  devices: number;
  outageSeconds: number;
  drain: {
    batchesDuringOutage: number; megabytesDuringOutage: number; drainSeconds: number;
    /** From ingest's ready line to the gateway's first confirmed upload: its backoff (≤ 10 s). */
    waitSeconds: number;
    /** From the first confirmed upload to the outage's last batch confirmed. */
    uploadSeconds: number;
    uploadBatchesPerSec: number;
    readingsPublished: number; failedPublishes: number;
    indexed: number; confirmed: number; stored: number; missing: number; duplicated: number; extra: number;
  };
  upload: {
    /** Gateway upload concurrency (requests of up to 64 batches each). */
    concurrency: number;
    /** Sealed batches in the slice each run uploads (ingest runs time those confirmed after their warm-up). */
    sampleBatches: number;
    meanBatchBytes: number;
    toLocal: UploadRun; toS3: UploadRun;
    /** Bare PUTs at the gateway's concurrency, run before and after ingest on S3 (runs: each one's batches/s); the ratio's denominator. */
    bareS3: UploadRun & { runs: [number, number] };
    /** Bare PUTs at the most S3 PUTs ingest may have in flight (8 bundles × 16 stored at once): s3rver's ceiling. */
    bareS3AtIngestFanOut: UploadRun;
    ratioS3VsBare: number;
    ratioS3VsBareAtIngestFanOut: number;
  };
  catalog: {
    batches: number;
    embedded: CatalogRates;
    influx: CatalogRates | null;
  };
  targets: { drainUnder30s: boolean; ingestWithin25PercentOfBareS3: boolean; nothingLost: boolean };
}

const BUCKET = 'vitalgate-bench';
const BARE_BUCKET = 'vitalgate-bench-bare';
/** Batches uploaded in each throughput run: a few thousand, each run well under a minute on 2 cores. */
const UPLOAD_BATCHES = 4000;
/** ingest's BUNDLE_STORE_CONCURRENCY (routes/batches.ts): batches of one bundle stored at once. */
const INGEST_STORE_FAN_OUT = 16;
const CATALOG_ROWS = 2048;
const STREAMS: StreamName[] = ['ecg', 'ppg', 'hr', 'spo2', 'temp'];

// The AWS SDK's notice about future Node versions, once per process (and per ingest child): noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

interface IndexLine { id: string; bytes: number; pack: string; offset: number; patientId: string; durableAt: number }
interface UploadLine { id: string; at: number }

/** Follows a JSON-lines file while it grows: each poll reads only the new bytes. */
class JsonlTail<T> {
  readonly records: T[] = [];
  private partial = '';
  constructor(readonly path: string, private offset = 0) {}

  async poll(): Promise<T[]> {
    let fh;
    try {
      fh = await open(this.path, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const fresh: T[] = [];
    try {
      const { size } = await fh.stat();
      if (size <= this.offset) return fresh;
      const buf = Buffer.allocUnsafe(size - this.offset);
      const { bytesRead } = await fh.read(buf, 0, buf.length, this.offset);
      this.offset += bytesRead;
      const text = this.partial + buf.toString('utf8', 0, bytesRead);
      const nl = text.lastIndexOf('\n');
      this.partial = text.slice(nl + 1);
      for (const l of text.slice(0, Math.max(0, nl)).split('\n')) {
        if (!l) continue;
        try {
          fresh.push(JSON.parse(l) as T);
        } catch { /* not a record: the gateway's logs skip such lines too */ }
      }
    } finally {
      await fh.close();
    }
    this.records.push(...fresh);
    return fresh;
  }
}

async function filesUnder(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
}

/** The s3rver child test-support started from this process (its CPU is part of every S3 figure). */
function s3rverPid(): number | undefined {
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1] !== String(process.pid)) continue;
      if (/test-support\/dist\/src\/s3\.js/.test(readFileSync(`/proc/${p}/cmdline`, 'utf8'))) return Number(p);
    } catch { /* gone */ }
  }
  return undefined;
}

function uploadRun(batches: number, bytes: number, ms: number, concurrency: number, cpuPercent: Record<string, number>): UploadRun {
  const seconds = ms / 1000;
  const cpuMsPerBatch: Record<string, number> = {};
  for (const [k, v] of Object.entries(cpuPercent)) {
    if (k === 'machineBusyPercentOfAllCores' || k === 'otherProcesses') continue;
    cpuMsPerBatch[k] = Math.round((v / 100) * ms / batches * 100) / 100;
  }
  return {
    batches, megabytes: round1(bytes / 1e6), seconds: Math.round(seconds * 100) / 100,
    batchesPerSec: Math.round(batches / seconds), megabytesPerSec: Math.round((bytes / 1e6 / seconds) * 100) / 100,
    concurrency, cpuPercent, cpuMsPerBatch,
  };
}

/** Two runs of the same upload as one: their total batches over their total time, CPU weighted by time. */
function mergeRuns(a: UploadRun, b: UploadRun): UploadRun & { runs: [number, number] } {
  const ms = (a.seconds + b.seconds) * 1000;
  const cpu: Record<string, number> = {};
  for (const k of Object.keys(a.cpuPercent)) cpu[k] = round1(((a.cpuPercent[k]! * a.seconds) + ((b.cpuPercent[k] ?? 0) * b.seconds)) / (a.seconds + b.seconds));
  return { ...uploadRun(a.batches + b.batches, (a.megabytes + b.megabytes) * 1e6, ms, a.concurrency, cpu), runs: [a.batchesPerSec, b.batchesPerSec] };
}

const sha256hex = (s: string) => createHash('sha256').update(s).digest('hex');

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
  const s3pid = s3rverPid();
  const s3proc = s3pid === undefined ? [] : [{ name: 's3rver', child: { cpuSeconds: () => procCpuSeconds(s3pid) } }];
  if (s3pid === undefined) log('cloud: could not find the s3rver process; its CPU is not measured');
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
  const layout = dataDirLayout(gwDir);
  const gwArgs = [...chain, '--chain-admin-key-file', adminFile, '--anchor-seconds', '5', '--ingest', ingestUrl, '--status-seconds', '0'];

  // ---------------------------------------------------------------- A: outage, then drain
  const broker = await startBrokerProcess(log, 'cloud-broker');
  const gateway = await startGatewayProcess(log, broker.url, gwDir, o.passphraseFile, 'cloud-gateway', gwArgs);
  const sim = new Simulation({
    brokerUrl: broker.url, devices: o.devices, durationS: Infinity, profile: 'mixed', encoding: 'cbor',
    devicesPerPatient: 1, devicePrefix: 'cloud-dev', patientPrefix: 'cloud-p',
  });
  let simClosed = false;
  const closeSim = async () => {
    if (simClosed) return;
    simClosed = true;
    await withTimeout(sim.stop(), 10_000, 'stopping the cloud devices').catch(() => undefined);
    await withTimeout(sim.close(), 5000, 'closing the cloud devices').catch(() => undefined);
  };
  o.onCleanup(closeSim);
  await withTimeout(sim.connect(), 60_000, `connecting ${o.devices} devices`);
  log(`cloud A: ${o.devices} devices (profile mixed, ${Math.round(sim.offeredRate)} readings/s) publish while ingest is down for ${o.outageSeconds} s`);
  const running = sim.run();
  const index = new JsonlTail<IndexLine>(layout.index);
  const outageEnd = Date.now() + o.outageSeconds * 1000;
  while (Date.now() < outageEnd) {
    await sleep(Math.min(10_000, outageEnd - Date.now()));
    await index.poll();
    const s = sim.stats();
    log(`cloud A: ingest down, ${s.published} readings published (${s.acked} acknowledged, ${s.failed} failed), ${index.records.length} batches waiting`);
  }
  const ingestA = await startIngest('ingest-local-a', ['--storage-dir', join(o.dir, 'cloud-a')]);
  const upAt = Date.now();
  await index.poll();
  const backlog = index.records.slice();
  if (!backlog.length) throw new Error(`cloud A: no batch was sealed during the ${o.outageSeconds} s outage: give a longer --cloud-outage-seconds`);
  const backlogIds = new Set(backlog.map((r) => r.id));
  const backlogBytes = backlog.reduce((n, r) => n + r.bytes, 0);
  log(`cloud A: ingest up with ${backlog.length} batches (${round1(backlogBytes / 1e6)} MB) waiting; devices keep publishing`);
  const uploads = new JsonlTail<UploadLine>(layout.uploads);
  let left = backlogIds.size;
  let firstAt = Infinity;
  let lastAt = 0;
  for (let lastLog = Date.now(); left > 0; await sleep(100)) {
    for (const u of await uploads.poll()) {
      if (u.at >= upAt && u.at < firstAt) firstAt = u.at;
      if (backlogIds.has(u.id)) {
        left--;
        lastAt = Math.max(lastAt, u.at);
      }
    }
    if (Date.now() - lastLog >= 3000) {
      lastLog = Date.now();
      log(`cloud A: draining, ${left} of the outage's ${backlog.length} batches left${firstAt === Infinity ? ' (the gateway has not tried again yet: backoff)' : ''}`);
    }
    if (Date.now() - upAt > 300_000) throw new Error(`cloud A: the spool did not drain in 5 min (${left} batches left)`);
  }
  const drainMs = lastAt - upAt;
  log(`cloud A: drained in ${round1(drainMs / 1000)} s (first upload ${round1((firstAt - upAt) / 1000)} s after ingest came up); stopping the devices`);
  await closeSim();
  await running;
  const simStats = sim.stats();
  // Let the gateway seal and upload the rest, then check that everything reconciles.
  for (const end = Date.now() + 60_000; Date.now() < end; await sleep(500)) {
    await Promise.all([index.poll(), uploads.poll()]);
    const confirmed = new Set(uploads.records.map((u) => u.id));
    if (index.records.length && index.records.every((r) => confirmed.has(r.id))) break;
  }
  await gateway.stop(30_000);
  await ingestA.stop(10_000);
  await Promise.all([index.poll(), uploads.poll()]);
  const indexed = index.records;
  const confirmedList = uploads.records.map((u) => u.id).filter((id) => !id.includes(':'));
  const confirmedSet = new Set(confirmedList);
  const stored = new Set(await filesUnder(join(o.dir, 'cloud-a', 'batches')));
  const indexedIds = new Set(indexed.map((r) => r.id));
  const drain: CloudResult['drain'] = {
    batchesDuringOutage: backlog.length, megabytesDuringOutage: round1(backlogBytes / 1e6), drainSeconds: round1(drainMs / 1000),
    waitSeconds: round1((firstAt - upAt) / 1000), uploadSeconds: round1((lastAt - firstAt) / 1000),
    uploadBatchesPerSec: Math.round(backlog.length / ((lastAt - firstAt) / 1000)),
    readingsPublished: simStats.published, failedPublishes: simStats.failed,
    indexed: indexed.length, confirmed: confirmedList.length, stored: stored.size,
    missing: [...indexedIds].filter((id) => !confirmedSet.has(id) || !stored.has(id)).length,
    duplicated: confirmedList.length - confirmedSet.size,
    extra: [...stored].filter((id) => !indexedIds.has(id)).length,
  };
  log(`cloud A: ${drain.indexed} batches indexed, ${drain.confirmed} confirmed, ${drain.stored} stored; missing ${drain.missing}, duplicated ${drain.duplicated}, extra ${drain.extra}`);

  // ---------------------------------------------------------------- B: throughput, nothing else running
  // The warm-up: the index's shortest prefix holding a batch of every patient; then the timed slice.
  const patients = new Set(indexed.map((r) => r.patientId));
  const seen = new Set<string>();
  let w = 0;
  while (w < indexed.length && seen.size < patients.size) seen.add(indexed[w++]!.patientId);
  const warm = indexed.slice(0, w);
  const warmIds = new Set(warm.map((r) => r.id));
  const sample = indexed.slice(w, w + UPLOAD_BATCHES);
  if (sample.length < 500) throw new Error(`cloud B: only ${sample.length} batches to upload after the warm-up: give a longer --cloud-outage-seconds`);
  const sampleIds = new Set(sample.map((r) => r.id));
  const sampleBytes = sample.reduce((n, r) => n + r.bytes, 0);
  const bytesOf = new Map(sample.map((r) => [r.id, r.bytes]));
  // Everything else counts as confirmed, so the spool holds exactly the sample: A's confirmations
  // (epochs, anchors) and every anchor root (none is re-sent; --anchor-seconds 3600 mines no new one).
  const anchorRoots = (await readFile(layout.anchors, 'utf8').catch(() => '')).split('\n').flatMap((l) => {
    try {
      const r = (JSON.parse(l) as { root?: unknown }).root;
      return typeof r === 'string' ? [`anchor:${r}`] : [];
    } catch {
      return [];
    }
  });
  const done = [...new Set([...indexed.map((r) => r.id), ...uploads.records.map((u) => u.id), ...anchorRoots])].filter((id) => !sampleIds.has(id) && !warmIds.has(id));
  const doneLog = done.map((id, lsn) => JSON.stringify({ lsn, id, at: 0 }) + '\n').join('');
  const gwArgsB = gwArgs.map((a, i) => (gwArgs[i - 1] === '--anchor-seconds' ? '3600' : a));
  const viaIngest = async (name: string, storage: string[], withS3: boolean): Promise<UploadRun> => {
    await writeFile(layout.uploads, doneLog);
    const ingest = await startIngest(name, storage);
    const gw = await startGatewayProcess(log, broker.url, gwDir, o.passphraseFile, `cloud-gateway-${name}`, gwArgsB);
    // The uploader starts just before the MQTT connect that precedes the ready line: milliseconds.
    const ready = Date.now();
    const procs = [{ name: 'gateway', child: gw }, { name: 'ingest', child: ingest }, ...(withS3 ? s3proc : []), { name: 'anvil', child: { cpuSeconds: () => procCpuSeconds(anvil.pid) } }];
    const tail = new JsonlTail<UploadLine>(layout.uploads, Buffer.byteLength(doneLog));
    // Timed from the warm-up's last confirmation: what the sample confirmed after it, until its last.
    let warmLeft = warm.length;
    let t0 = 0;
    let cpu: CpuMeter | undefined;
    let total = 0;
    let n = 0;
    let bytes = 0;
    let end = 0;
    const early: UploadLine[] = [];
    for (let lastLog = ready; total < sample.length || warmLeft > 0; await sleep(100)) {
      for (const u of await tail.poll()) {
        if (warmIds.has(u.id)) {
          t0 = Math.max(t0, u.at);
          if (--warmLeft === 0) cpu = new CpuMeter(procs);
        } else if (sampleIds.has(u.id)) {
          total++;
          early.push(u);
        }
      }
      if (warmLeft === 0) {
        for (const u of early.splice(0)) {
          if (u.at <= t0) continue;
          n++;
          bytes += bytesOf.get(u.id)!;
          end = Math.max(end, u.at);
        }
      }
      if (Date.now() - lastLog >= 3000) {
        lastLog = Date.now();
        log(`cloud B (${name}): ${warmLeft ? `warming up, ${warm.length - warmLeft} of ${warm.length}` : `${total} of ${sample.length}`} batches uploaded${cpu ? ` | cpu% ${fmtCpu(cpu.interval())}` : ''}`);
      }
      if (Date.now() - ready > 300_000) throw new Error(`${name}: the upload did not finish in 5 min (${total} of ${sample.length})`);
    }
    const r = { ...uploadRun(n, bytes, end - t0, DEFAULT_UPLOAD_CONCURRENCY, cpu!.read()), warmup: { batches: warm.length, seconds: round1((t0 - ready) / 1000) } };
    await gw.stop(30_000);
    await ingest.stop(10_000);
    return r;
  };
  log(`cloud B: the gateway uploads ${sample.length} of its batches (${round1(sampleBytes / 1e6)} MB, mean ${Math.round(sampleBytes / sample.length)} B) after a warm-up of ${warm.length} (a batch of every patient) to ingest on local storage`);
  const toLocal = await viaIngest('ingest-local-b', ['--storage-dir', join(o.dir, 'cloud-b')], false);
  // The request ingest's S3 store sends (s3-store.ts putOnce), from a client configured as its is.
  const client = new S3Client({
    endpoint: s3.endpoint, forcePathStyle: true, region: 'us-east-1', credentials: s3.credentials,
    maxAttempts: 3, requestHandler: { connectionTimeout: 5_000, requestTimeout: 30_000 },
  });
  await client.send(new CreateBucketCommand({ Bucket: BARE_BUCKET })).catch(() => undefined);
  const packs = new Map<string, Buffer>();
  for (const r of [...warm, ...sample]) if (!packs.has(r.pack)) packs.set(r.pack, await readFile(join(layout.store, 'packs', `${r.pack}.vgp`)));
  const bare = async (prefix: string, concurrency: number, batches = sample): Promise<UploadRun> => {
    const bodies = batches.map((r) => packs.get(r.pack)!.subarray(r.offset, r.offset + r.bytes));
    const cpu = new CpuMeter(s3proc);
    let next = 0;
    let lastLog = Date.now();
    const t = Date.now();
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < batches.length) {
        const i = next++;
        const body = bodies[i]!;
        await client.send(new PutObjectCommand({
          Bucket: BARE_BUCKET, Key: `${prefix}/batches/${batches[i]!.patientId}/${batches[i]!.id}`, Body: body, ContentLength: body.length,
          ContentType: 'application/octet-stream', ChecksumSHA256: createHash('sha256').update(body).digest('base64'), IfNoneMatch: '*',
        }));
        if (Date.now() - lastLog >= 3000) {
          lastLog = Date.now();
          log(`cloud B (bare S3, ${concurrency} at a time): ${next} of ${batches.length} PUT | cpu% ${fmtCpu(cpu.interval())}`);
        }
      }
    }));
    return uploadRun(batches.length, batches.reduce((n, r) => n + r.bytes, 0), Date.now() - t, concurrency, cpu.read());
  };
  // Untimed, as ingest's warm-up is: s3rver's and this client's first requests (JIT, connections).
  await bare('warm', DEFAULT_UPLOAD_CONCURRENCY, warm);
  // Bare before and after ingest, against drift (s3rver's directories growing, the machine's other load).
  log(`cloud B: the same objects PUT straight to the same S3 server, ${DEFAULT_UPLOAD_CONCURRENCY} at a time (1 of 2: before ingest on S3)`);
  const bareBefore = await bare('c8a', DEFAULT_UPLOAD_CONCURRENCY);
  log(`cloud B: the gateway to ingest on S3 (s3rver on loopback)`);
  const toS3 = await viaIngest('ingest-s3', ['--s3-bucket', BUCKET, '--s3-endpoint', s3.endpoint, '--s3-path-style'], true);
  await broker.child.stop(5000);
  log(`cloud B: the same objects PUT straight to the same S3 server, ${DEFAULT_UPLOAD_CONCURRENCY} at a time (2 of 2: after ingest on S3)`);
  const bareAfter = await bare('c8b', DEFAULT_UPLOAD_CONCURRENCY);
  const bareS3 = mergeRuns(bareBefore, bareAfter);
  const fanOut = DEFAULT_UPLOAD_CONCURRENCY * INGEST_STORE_FAN_OUT;
  log(`cloud B: once more, ${fanOut} at a time (the most PUTs ingest may have in flight)`);
  const bareS3AtIngestFanOut = await bare(`c${fanOut}`, fanOut);
  client.destroy();

  // ---------------------------------------------------------------- C: catalog writes
  const rows = (tag: string, n: number): CatalogBatch[] => Array.from({ length: n }, (_, i) => ({
    id: sha256hex(`${tag}:${i}`), patientId: `0x${(1 + (i % 100)).toString(16).padStart(40, '0')}`, stream: STREAMS[i % STREAMS.length]!,
    deviceId: 'bench', epoch: 1, seq: i, firstTs: 1767225600000 + i * 2000, lastTs: 1767225600000 + i * 2000 + 1999, count: 20, bytes: 1000,
  }));
  const writes = async (catalog: Catalog, name: string): Promise<CatalogRates> => {
    const perSec = (n: number, t: number) => Math.round(n / ((Date.now() - t) / 1000));
    const seq = rows(`${name}-seq`, CATALOG_ROWS);
    let t = Date.now();
    for (const b of seq) await catalog.addBatch(b);
    const sequentialPerSec = perSec(seq.length, t);
    const conc = rows(`${name}-conc`, CATALOG_ROWS);
    let i = 0;
    t = Date.now();
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (i < conc.length) await catalog.addBatch(conc[i++]!);
    }));
    const concurrentPerSec = perSec(conc.length, t);
    const bundled = rows(`${name}-bundle`, CATALOG_ROWS);
    t = Date.now();
    for (let k = 0; k < bundled.length; k += 64) await catalog.addBatches(bundled.slice(k, k + 64));
    return { sequentialPerSec, concurrentPerSec, bundlesPerSec: perSec(bundled.length, t) };
  };
  log(`cloud C: ${CATALOG_ROWS} catalog writes × 3 (one at a time, 16 at a time, bundles of 64), embedded`);
  const embeddedCatalog = await EmbeddedCatalog.open(join(o.dir, 'catalog-embedded'));
  const embedded = await writes(embeddedCatalog, 'embedded');
  await embeddedCatalog.close();
  let influx: CloudResult['catalog']['influx'] = null;
  if (findProgram('influxd')) {
    log(`cloud C: the same, InfluxDB`);
    const node = await startInfluxd(join(o.dir, 'influx'));
    o.onCleanup(() => node.stop());
    const cat = await InfluxCatalog.connect({ url: node.url });
    influx = await writes(cat, 'influx');
    await cat.close();
    await node.stop();
  } else {
    if (process.env.CI === 'true') throw new Error('influxd is not installed (apt-get install influxdb); CI must measure the InfluxDB catalog');
    log('\x1b[33m!!! SKIPPING cloud C InfluxDB: influxd not found (Debian package "influxdb": apt-get install influxdb); the InfluxDB catalog is NOT measured\x1b[0m');
  }

  const ratio = Math.round((toS3.batchesPerSec / bareS3.batchesPerSec) * 100) / 100;
  return {
    devices: o.devices, outageSeconds: o.outageSeconds, drain,
    upload: {
      concurrency: DEFAULT_UPLOAD_CONCURRENCY, sampleBatches: sample.length, meanBatchBytes: Math.round(sampleBytes / sample.length),
      toLocal, toS3, bareS3, bareS3AtIngestFanOut, ratioS3VsBare: ratio,
      ratioS3VsBareAtIngestFanOut: Math.round((toS3.batchesPerSec / bareS3AtIngestFanOut.batchesPerSec) * 100) / 100,
    },
    catalog: { batches: CATALOG_ROWS, embedded, influx },
    targets: {
      drainUnder30s: drainMs < 30_000,
      ingestWithin25PercentOfBareS3: ratio >= 0.8,
      nothingLost: drain.missing === 0 && drain.duplicated === 0 && drain.extra === 0 && drain.confirmed === drain.indexed && drain.failedPublishes === 0,
    },
  };
}
