/**
 * The whole cloud path with real parts, while each of them fails: devices → aedes → `vitalgate
 * gateway --ingest` → `vitalgate ingest` (S3 on an s3rver, catalog in a real influxd) under load,
 * and during the run
 *   - ingest is killed with SIGKILL and restarted on the same port;
 *   - the S3 server is stopped and restarted;
 *   - influxd is stopped and restarted;
 *   - the gateway is killed with SIGKILL while it drains the backlog the S3 outage left.
 * Afterwards the spool is empty, every reading the broker acknowledged comes back through
 * `open --from-ingest` exactly once and none is invented, `verify --from-ingest` proves every
 * batch against the chain with a catalog that lists exactly what storage holds, and no stored
 * object or catalog row holds a reading in the clear.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import mqtt from 'mqtt';
import { startBroker } from '@vitalgate/broker';
import { ANVIL_DEV_KEYS, createProvider, deployOrLoad, startAnvil } from '@vitalgate/contracts';
import { encodeBody, readingTopic, type ReadingBody } from '@vitalgate/protocol';
import { freePort, requireProgram, startInfluxd, startS3Server } from '@vitalgate/test-support';
import { vitalgate } from '../cli.js';
import { startDaemon, type Daemon } from '../daemon.js';

const DEVICES = 6;
const BUCKET = 'vitalgate-faults';
/** s3rver checks only the key id; the secret is distinctive so the test can see it never leaks. */
const S3_SECRET = 'fault-e2e-s3-secret-never-printed-R4z';
const PASSPHRASE = 'cloud fault passphrase, not the demo one';
const T0 = Date.UTC(2026, 11, 3);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Status { unanchoredBatches?: number; spool?: { waiting: number; recordsWaiting: number }; msg: string }

/** The gateway's latest status log line (pino JSON on stderr), if it has printed one. */
function lastStatus(stderr: string): Status | undefined {
  const lines = stderr.trim().split('\n').filter((l) => l.includes('"msg":"status'));
  const last = lines.at(-1);
  return last ? JSON.parse(last) as Status : undefined;
}

const body = (d: number, seq: number): ReadingBody => seq % 3 === 2
  ? { seq, ts: T0 + seq * 10, values: { spo2: 90 + ((seq * 7 + d) % 10) } }
  : { seq, ts: T0 + seq * 10, values: { hr: 60 + ((seq + d) % 50) } };
const streamOf = (seq: number) => (seq % 3 === 2 ? 'spo2' : 'hr');

describe('the cloud path under faults: ingest, S3, InfluxDB and the gateway each fail during a run', function () {
  this.timeout(300_000);

  it('every acknowledged reading is in the cloud exactly once; the spool is empty; the catalog matches storage; nothing is in the clear', async function () {
    requireProgram(this, 'influxd', 'influxdb');
    const dir = await mkdtemp(join(tmpdir(), 'vg-cloudfault-'));
    const anvil = await startAnvil();
    const provider = createProvider(anvil.url, anvil.chainId);
    const broker = await startBroker({ port: 0 });
    const s3 = await startS3Server(join(dir, 's3'), { buckets: [BUCKET], conditionalWrites: true });
    const influx = await startInfluxd(join(dir, 'influx'));
    let gw: Daemon | undefined;
    let ingest: Daemon | undefined;
    const outputs: string[] = [];
    try {
      const deploymentFile = join(dir, 'deployment.json');
      await deployOrLoad(new Wallet(ANVIL_DEV_KEYS[0]!, provider), deploymentFile);
      await writeFile(join(dir, 'pass'), `${PASSPHRASE}\n`, { mode: 0o600 });
      await writeFile(join(dir, 'admin'), `${ANVIL_DEV_KEYS[0]!}\n`, { mode: 0o600 });
      const env = { VITALGATE_PASSPHRASE_FILE: join(dir, 'pass') };
      const chain = ['--chain-url', anvil.url, '--deployment', deploymentFile];

      const ingestPort = await freePort();
      const ingestUrl = `http://127.0.0.1:${ingestPort}`;
      const ingestArgs = [
        'ingest', '--data-dir', join(dir, 'ingest'), '--port', String(ingestPort), ...chain,
        '--s3-bucket', BUCKET, '--s3-endpoint', s3.endpoint, '--s3-path-style', '--influx', influx.url, '--log-level', 'warn',
      ];
      const ingestEnv = { AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: S3_SECRET };
      const startIngest = async () => { ingest = await startDaemon(ingestArgs, ingestEnv); };
      const stopIngest = async (signal: NodeJS.Signals) => {
        const d = ingest!;
        ingest = undefined;
        const code = await d.stop(signal);
        outputs.push(d.stderr());
        return code;
      };
      await startIngest();

      const gwArgs = [
        'gateway', '--broker', broker.url, '--data-dir', join(dir, 'gw'), '--client-id', 'gw-faults', '--batch-window-ms', '300',
        ...chain, '--chain-admin-key-file', join(dir, 'admin'), '--anchor-seconds', '2',
        '--ingest', ingestUrl, '--status-seconds', '1', '--log-level', 'info',
      ];
      const startGateway = async () => { gw = await startDaemon(gwArgs, env); };
      const stopGateway = async (signal: NodeJS.Signals) => {
        const d = gw!;
        gw = undefined;
        const code = await d.stop(signal);
        outputs.push(d.stderr());
        return code;
      };
      await startGateway();

      // Devices publish at QoS 1 throughout; a reading counts as sent once the broker acknowledged it.
      const acked = new Map<string, ReadingBody & { stream: string }>();
      let running = true;
      const devices = Array.from({ length: DEVICES }, async (_, d) => {
        const dev = await mqtt.connectAsync(broker.url, { clientId: `cf-dev-${d}` });
        for (let seq = 0; running; seq++) {
          const b = body(d, seq);
          await dev.publishAsync(readingTopic(`cf-p${d % 3}`, `cf-dev-${d}`, streamOf(seq)), Buffer.from(encodeBody(b, 'cbor')), { qos: 1 });
          acked.set(`cf-dev-${d}/${streamOf(seq)}/${seq}`, { ...b, stream: streamOf(seq) });
          if (seq % 4 === 3) await sleep(15);
        }
        await dev.endAsync();
      });

      await sleep(3000);
      assert.equal(await stopIngest('SIGKILL'), null, 'ingest killed');
      await sleep(2000);
      await startIngest();

      await sleep(2500);
      await s3.stop();
      await sleep(3000);
      await s3.restart();
      // The gateway now drains what waited during the outage; kill it in the middle of that.
      await sleep(400);
      assert.equal(await stopGateway('SIGKILL'), null, 'gateway killed');
      await startGateway();

      await sleep(2500);
      await influx.stop();
      await sleep(3000);
      await influx.restart();

      await sleep(2500);
      running = false;
      await Promise.all(devices);

      // Let the gateway take in what the broker still queues for it, anchor it, and upload everything.
      const queued = () => (broker.persistence as unknown as { outgoingCount(): number }).outgoingCount();
      for (const end = Date.now() + 60_000; queued() > 0 && Date.now() < end;) await sleep(200);
      let status: Status | undefined;
      for (const end = Date.now() + 90_000; Date.now() < end; await sleep(500)) {
        status = lastStatus(gw!.stderr());
        if (queued() === 0 && status?.unanchoredBatches === 0 && status.spool?.waiting === 0 && status.spool.recordsWaiting === 0) break;
      }
      assert.deepEqual({ unanchored: status?.unanchoredBatches, waiting: status?.spool?.waiting, recordsWaiting: status?.spool?.recordsWaiting }, { unanchored: 0, waiting: 0, recordsWaiting: 0 },
        `the spool did not drain:\n${gw!.stderr().split('\n').filter((l) => l.includes('"msg":"status')).slice(-3).join('\n')}`);
      assert.equal(await stopGateway('SIGTERM'), 0);

      // What the spool is made of: indexed batches minus confirmed ones. Nothing may be left.
      const ids = (await readFile(join(dir, 'gw', 'index.jsonl'), 'utf8')).trim().split('\n').map((l) => (JSON.parse(l) as { id: string }).id);
      const confirmed = (await readFile(join(dir, 'gw', 'uploads.jsonl'), 'utf8')).trim().split('\n').map((l) => (JSON.parse(l) as { id: string }).id);
      assert.deepEqual(new Set(confirmed.filter((id) => !id.includes(':'))), new Set(ids), 'every indexed batch confirmed by ingest');
      assert.ok(confirmed.some((id) => id.startsWith('epoch:')) && confirmed.some((id) => id.startsWith('anchor:')), 'epoch and anchor records confirmed');

      // Read back from the cloud: every acknowledged (device, stream, seq) once, with its values; nothing invented.
      const open = await vitalgate(['open', '--data-dir', join(dir, 'gw'), '--from-ingest', ingestUrl, '--json'], env);
      outputs.push(open.stderr);
      assert.equal(open.code, 0, open.stderr);
      const found = new Map<string, number>();
      const altered: string[] = [];
      for (const l of open.stdout.trim().split('\n')) {
        const r = JSON.parse(l) as { deviceId: string; stream: string; seq: number; ts: number; values: Record<string, number> };
        const k = `${r.deviceId}/${r.stream}/${r.seq}`;
        found.set(k, (found.get(k) ?? 0) + 1);
        const sent = acked.get(k);
        if (sent && (sent.ts !== r.ts || JSON.stringify((sent as { values: unknown }).values) !== JSON.stringify(r.values))) altered.push(k);
      }
      assert.ok(acked.size > 2000, `load too light to mean anything: ${acked.size} acknowledged`);
      const missing = [...acked.keys()].filter((k) => !found.has(k));
      const twice = [...found].filter(([, n]) => n > 1).map(([k]) => k);
      const invented = [...found.keys()].filter((k) => !acked.has(k));
      assert.deepEqual({ missing: missing.slice(0, 5), missingCount: missing.length, twice: twice.slice(0, 5), invented: invented.slice(0, 5), altered: altered.slice(0, 5) },
        { missing: [], missingCount: 0, twice: [], invented: [], altered: [] });

      // The cloud copy proves against the chain, and the InfluxDB catalog lists exactly what S3 holds.
      const verify = await vitalgate(['verify', '--data-dir', join(dir, 'gw'), ...chain, '--from-ingest', ingestUrl, '--json'], env);
      outputs.push(verify.stderr);
      assert.equal(verify.code, 0, verify.stdout + verify.stderr);
      const v = JSON.parse(verify.stdout) as { batches: number; verified: number; failed: number; unanchored: number; catalog: unknown };
      assert.deepEqual({ batches: v.batches, verified: v.verified, failed: v.failed, unanchored: v.unanchored }, { batches: ids.length, verified: ids.length, failed: 0, unanchored: 0 });
      assert.deepEqual(v.catalog, { rows: ids.length, missing: 0, extra: 0, duplicated: 0 });

      // No stored object and no catalog row holds a reading in the clear.
      const needles: Buffer[] = [Buffer.from('values')];
      let i = 0;
      for (const r of acked.values()) {
        if (i++ % 97 !== 0) continue; // a sample of a few dozen readings
        const { stream: _, ...b } = r;
        needles.push(Buffer.from(encodeBody(b, 'cbor')), Buffer.from(encodeBody(b, 'json')));
      }
      assert.ok(needles.length > 10, `too few needles: ${needles.length}`);
      const objects = (await readdir(s3.dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
      assert.ok(objects.length >= ids.length, `S3 holds ${objects.length} files for ${ids.length} batches`);
      const rows = await fetch(`${influx.url}/query?${new URLSearchParams({ db: 'vitalgate', q: 'SELECT * FROM /.*/' })}`);
      assert.equal(rows.status, 200);
      // The rows' own names and contents, without the response's JSON framing (which says "values").
      const result = await rows.json() as { results: Array<{ series?: Array<{ name: string; columns: string[]; values: unknown[][] }> }> };
      const series = result.results.flatMap((r) => r.series ?? []);
      assert.ok(series.length > 0, 'the catalog has series');
      const catalogText = Buffer.from(series.map((x) => JSON.stringify([x.name, x.columns, x.values])).join('\n'));
      assert.ok(ids.every((id) => catalogText.includes(id)), 'every batch id is in the catalog rows scanned');
      for (const [name, content] of [['the InfluxDB catalog', catalogText] as const, ...await Promise.all(objects.map(async (f) => [f, await readFile(f)] as const))]) {
        for (const n of needles) assert.equal(content.indexOf(n), -1, `${name} contains plaintext "${n.toString('utf8', 0, 40)}"`);
      }

      assert.equal(await stopIngest('SIGTERM'), 0);
      for (const out of outputs) {
        assert.doesNotMatch(out, new RegExp(S3_SECRET), 'the S3 secret never appears in output');
        assert.doesNotMatch(out, new RegExp(PASSPHRASE), 'the passphrase never appears in output');
      }
      // Each fault reached the gateway as what it was, and ingest never answered with a bare 5xx.
      const paused = new Set(outputs.join('\n').split('\n').filter((l) => l.includes('"msg":"upload paused"')).map((l) => (JSON.parse(l) as { reason: string }).reason.replace(/:.*/s, '')));
      const reasons = [...paused];
      assert.ok(reasons.includes('ingest unreachable'), `ingest down not seen: ${reasons.join(' | ')}`);
      assert.ok(reasons.includes('ingest answered 503 (storage-unavailable)'), `S3 down not seen: ${reasons.join(' | ')}`);
      assert.ok(reasons.includes('ingest answered 503 (catalog-unavailable)'), `influxd down not seen: ${reasons.join(' | ')}`);
      assert.deepEqual(reasons.filter((r) => r.startsWith('ingest answered') && !/^ingest answered 503 \((storage|catalog)-unavailable\)$/.test(r)), [], 'no other refusal or error from ingest');
    } finally {
      await gw?.stop('SIGKILL');
      await ingest?.stop('SIGKILL');
      await broker.close();
      provider.destroy();
      await anvil.stop();
      await s3.stop();
      await influx.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
