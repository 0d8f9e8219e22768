/**
 * `vitalgate ingest` on its own, over HTTPS (a throwaway CA made with openssl) and on loopback:
 * after `vitalgate run`, `open --from-ingest URL` reads back through it exactly what `open` reads
 * locally; plain HTTP on a network address is refused. With --s3-bucket (a real s3rver on
 * loopback), uploaded batches land in the bucket and read back the same; a wrong endpoint or bucket
 * stops it at startup. With --influx (a real influxd), --rebuild-catalog fills the InfluxDB catalog
 * from storage exactly once, ingest serves it and writes request telemetry that names no patient,
 * and a gateway's --influx status telemetry carries only allowlisted counts.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import { Keystore, dataDirLayout } from '@vitalgate/edge-gateway';
import { IngestClient, LocalObjectStore, S3ObjectStore, batchKey, batchQuery } from '@vitalgate/ingest';
import { parseBatch } from '@vitalgate/protocol';
import { freePort, makeTestPki, requireProgram, startInfluxd, startS3Server } from '@vitalgate/test-support';
import { vitalgate } from '../cli.js';
import { startDaemon } from '../daemon.js';

describe('vitalgate ingest', function () {
  this.timeout(180_000);
  let dir: string;
  let data: string;
  let env: NodeJS.ProcessEnv;
  const PASSPHRASE = 'ingest cli passphrase, not the demo one';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vg-ingest-cli-'));
    data = join(dir, 'data');
    await writeFile(join(dir, 'pass'), `${PASSPHRASE}\n`, { mode: 0o600 });
    env = { VITALGATE_PASSPHRASE_FILE: join(dir, 'pass') };
    const run = await vitalgate(['run', '--devices', '4', '--duration', '3', '--data-dir', data, '--json'], env);
    assert.equal(run.code, 0, run.stderr);
    const summary = JSON.parse(run.stdout) as { batches: number; summaryBatches: number; uploadedBatches: number; uploadWaiting: number };
    assert.ok(summary.summaryBatches > 0, 'the gateway seals summaries beside the readings');
    assert.equal(summary.uploadedBatches, summary.batches + summary.summaryBatches, 'run uploads every batch and summary before it exits');
    assert.equal(summary.uploadWaiting, 0);
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  const readings = (stdout: string) => stdout.trim().split('\n').map((l) => { const r = JSON.parse(l) as Record<string, unknown>; return `${String(r.deviceId)}|${String(r.stream)}|${String(r.seq)}`; }).sort();

  it('over HTTPS: open --from-ingest reads back exactly what open reads locally', async function () {
    const pki = makeTestPki(this);
    const ingest = await startDaemon(['ingest', '--data-dir', data, '--port', '0', '--tls-cert', pki.serverCert, '--tls-key', pki.serverKey, '--log-level', 'warn']);
    try {
      const url = String(ingest.first.url);
      assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const local = await vitalgate(['open', '--data-dir', data, '--json'], env);
      assert.equal(local.code, 0, local.stderr);
      const cloud = await vitalgate(['open', '--data-dir', data, '--from-ingest', url, '--json'], { ...env, NODE_EXTRA_CA_CERTS: pki.caCert });
      assert.equal(cloud.code, 0, cloud.stderr);
      assert.ok(readings(local.stdout).length > 50);
      assert.deepEqual(readings(cloud.stdout), readings(local.stdout));
      assert.match(cloud.stderr, /batches opened from https:\/\/127\.0\.0\.1/);
    } finally {
      assert.equal(await ingest.stop('SIGTERM'), 0, ingest.stderr());
    }
  });

  it('refuses plain HTTP on a network address, and a certificate without its key', async () => {
    const open = await vitalgate(['ingest', '--data-dir', data, '--host', '0.0.0.0', '--port', '0']);
    assert.notEqual(open.code, 0);
    assert.match(open.stderr, /plain HTTP on 0\.0\.0\.0 would carry gateways' requests in the clear/);
    const half = await vitalgate(['ingest', '--data-dir', data, '--tls-cert', join(dir, 'x.crt')]);
    assert.notEqual(half.code, 0);
    assert.match(half.stderr, /--tls-cert and --tls-key go together/);
  });

  it('open --from-ingest without ingest running says so clearly', async () => {
    const port = await freePort(); // free, so nothing listens there
    const r = await vitalgate(['open', '--data-dir', data, '--from-ingest', `http://127.0.0.1:${port}`, '--json'], env);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`ingest at http://127\\.0\\.0\\.1:${port}/? is not reachable: ECONNREFUSED`));
  });

  describe('with --s3-bucket', () => {
    const BUCKET = 'vitalgate-cli';
    /** s3rver checks only the key id; the secret is distinctive so the test can see it never leaks. */
    const SECRET = 'cli-s3-secret-never-printed-7Qw';
    const awsEnv = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: SECRET };

    it('stores uploaded batches in the bucket, and open --from-ingest reads them back as open does locally', async () => {
      const s3 = await startS3Server(join(dir, 's3'), { buckets: [BUCKET], conditionalWrites: true });
      const ingest = await startDaemon(['ingest', '--data-dir', data, '--port', '0', '--s3-bucket', BUCKET, '--s3-endpoint', s3.endpoint, '--s3-path-style', '--log-level', 'info'], awsEnv);
      const bucket = new S3ObjectStore({ bucket: BUCKET, endpoint: s3.endpoint, forcePathStyle: true, credentials: s3.credentials });
      try {
        const url = String(ingest.first.url);
        assert.equal(ingest.first.storage, `s3 ${BUCKET} at ${s3.endpoint}`);
        // Upload, as the gateway would, what `run` stored in its local cloud copy.
        const keystore = await Keystore.open(dataDirLayout(data).keys, PASSPHRASE);
        const wallet = (secret: Uint8Array) => new Wallet(`0x${Buffer.from(secret).toString('hex')}`);
        const client = new IngestClient(url, wallet((await keystore.getSecret('eth-gateway'))!));
        const local = new LocalObjectStore(join(data, 'cloud'));
        let uploaded = 0;
        for (const patientId of await keystore.patients()) {
          const secret = await keystore.getSecret(`eth-patient-${patientId}`);
          if (!secret) continue;
          const account = wallet(secret).address;
          const keys = await local.list(batchKey(account, ''), undefined, 100_000);
          for (const key of keys) {
            const bytes = (await local.get(key))!;
            const parsed = parseBatch(bytes);
            assert.ok(parsed.ok);
            const id = key.slice(key.lastIndexOf('/') + 1);
            const res = await client.request('PUT', `/v1/batches/${id}${batchQuery(parsed.value.header, account)}`, bytes);
            assert.equal(res.status, 201, JSON.stringify(res.json));
            uploaded++;
          }
          assert.deepEqual(await bucket.list(batchKey(account, ''), undefined, 100_000), keys, 'the bucket holds exactly the uploaded batches');
          const again = (await local.get(keys[0]!))!;
          const parsed = parseBatch(again);
          assert.ok(parsed.ok);
          const res = await client.request('PUT', `/v1/batches/${keys[0]!.slice(keys[0]!.lastIndexOf('/') + 1)}${batchQuery(parsed.value.header, account)}`, again);
          assert.equal(res.status, 200, 'the same batch again is a no-op');
        }
        assert.ok(uploaded > 10, `only ${uploaded} batches`);

        const localOpen = await vitalgate(['open', '--data-dir', data, '--json'], env);
        assert.equal(localOpen.code, 0, localOpen.stderr);
        const cloud = await vitalgate(['open', '--data-dir', data, '--from-ingest', url, '--json'], env);
        assert.equal(cloud.code, 0, cloud.stderr);
        assert.deepEqual(readings(cloud.stdout), readings(localOpen.stdout));
      } finally {
        bucket.close();
        assert.equal(await ingest.stop('SIGTERM'), 0, ingest.stderr());
        await s3.stop();
      }
      assert.doesNotMatch(ingest.stderr(), new RegExp(SECRET));
      assert.match(ingest.stderr(), new RegExp(`"storage":"s3 ${BUCKET} at http://127\\.0\\.0\\.1:${s3.port}"`), 'the log names the store');
    });

    it('a wrong endpoint or a missing bucket stops it at startup with a clear error', async () => {
      const port = await freePort(); // nothing listens there
      const down = await vitalgate(['ingest', '--data-dir', data, '--port', '0', '--s3-bucket', BUCKET, '--s3-endpoint', `http://127.0.0.1:${port}`], awsEnv);
      assert.notEqual(down.code, 0);
      assert.match(down.stderr, new RegExp(`vitalgate: S3 ECONNREFUSED on check in bucket ${BUCKET} at http://127\\.0\\.0\\.1:${port}: `));
      assert.doesNotMatch(down.stderr + down.stdout, new RegExp(SECRET));

      const s3 = await startS3Server(join(dir, 's3-empty'));
      try {
        const missing = await vitalgate(['ingest', '--data-dir', data, '--port', '0', '--s3-bucket', 'not-created', '--s3-endpoint', s3.endpoint, '--s3-path-style'], awsEnv);
        assert.notEqual(missing.code, 0);
        assert.match(missing.stderr, new RegExp(`S3 bucket not-created does not exist at http://127\\.0\\.0\\.1:${s3.port}: create it first`));
      } finally {
        await s3.stop();
      }

      const stray = await vitalgate(['ingest', '--data-dir', data, '--s3-endpoint', 'http://127.0.0.1:1']);
      assert.notEqual(stray.code, 0);
      assert.match(stray.stderr, /--s3-endpoint needs --s3-bucket/);
    });
  });

  describe('with --influx', () => {
    /** SELECT over InfluxDB's HTTP API, as Grafana would; returns the first series' rows as objects. */
    async function influxRows(url: string, db: string, q: string): Promise<Array<Record<string, unknown>>> {
      const res = await fetch(`${url}/query?${new URLSearchParams({ db, q, epoch: 'ms' })}`);
      assert.equal(res.status, 200);
      const body = await res.json() as { results: Array<{ series?: Array<{ columns: string[]; values: unknown[][] }> }> };
      const series = body.results[0]?.series?.[0];
      return series ? series.values.map((v) => Object.fromEntries(series.columns.map((c, i) => [c, v[i]]))) : [];
    }

    it('--rebuild-catalog fills InfluxDB from storage exactly once; ingest serves that catalog and writes request telemetry naming no patient', async function () {
      requireProgram(this, 'influxd', 'influxdb');
      const influx = await startInfluxd(join(dir, 'influx'));
      try {
        const local = new LocalObjectStore(join(data, 'cloud'));
        const stored = await local.list('batches/', undefined, 1_000_000);
        assert.ok(stored.length > 10, `only ${stored.length} stored batches`);
        for (let round = 0; round < 2; round++) {
          const r = await vitalgate(['ingest', '--data-dir', data, '--influx', influx.url, '--rebuild-catalog']);
          assert.equal(r.code, 0, r.stderr);
          const summary = JSON.parse(r.stdout) as { batches: number; anchors: number; skippedCount: number };
          assert.equal(summary.batches, stored.length, 'every stored batch cataloged');
          assert.ok(summary.anchors > 0, 'anchor records merged in');
          assert.equal(summary.skippedCount, 0);
          assert.match(r.stderr, /rebuilding InfluxDB catalog at http:\/\/127\.0\.0\.1:\d+/);
        }
        // Readings in "batch", summaries in their own measurements: together, every stored batch once.
        const rows = (await Promise.all(['batch', 'summary_1m', 'summary_1h'].map((m) => influxRows(influx.url, 'vitalgate', `SELECT "id", "root" FROM "${m}"`)))).flat();
        assert.ok(rows.length > (await influxRows(influx.url, 'vitalgate', 'SELECT "id" FROM "batch"')).length, 'summaries are cataloged too');
        assert.deepEqual(rows.map((row) => String(row.id)).sort(), stored.map((k) => k.slice(k.lastIndexOf('/') + 1)).sort(), 'one point per batch, after two rebuilds');
        assert.ok(rows.some((row) => typeof row.root === 'string' && /^0x[0-9a-f]{64}$/.test(row.root)), 'anchor roots on the rows');

        const ingest = await startDaemon(['ingest', '--data-dir', data, '--port', '0', '--influx', influx.url, '--log-level', 'warn']);
        const accounts: string[] = [];
        try {
          assert.match(String(ingest.first.catalog), /^InfluxDB catalog at http:\/\/127\.0\.0\.1:/);
          const keystore = await Keystore.open(dataDirLayout(data).keys, PASSPHRASE);
          const wallet = (secret: Uint8Array) => new Wallet(`0x${Buffer.from(secret).toString('hex')}`);
          const client = new IngestClient(String(ingest.first.url), wallet((await keystore.getSecret('eth-gateway'))!));
          for (const patientId of await keystore.patients()) {
            const secret = await keystore.getSecret(`eth-patient-${patientId}`);
            if (!secret) continue;
            const account = wallet(secret).address;
            accounts.push(account);
            const listed: string[] = [];
            // Readings and summaries are listed apart, by kind; together they are every stored batch.
            for (const kind of ['readings', 'summary-1m', 'summary-1h']) {
              let after = '';
              for (;;) {
                const res = await client.request('GET', `/v1/catalog/batches?patientAccount=${account}&kind=${kind}&from=0&to=${Number.MAX_SAFE_INTEGER}&limit=50${after}`);
                assert.equal(res.status, 200, JSON.stringify(res.json));
                const page = res.json as { entries: Array<{ id: string; kind?: string }>; next: string | null };
                assert.ok(page.entries.every((e) => (e.kind ?? 'readings') === kind), kind);
                listed.push(...page.entries.map((e) => e.id));
                if (!page.next) break;
                after = `&after=${encodeURIComponent(page.next)}`;
              }
            }
            const mine = (await local.list(batchKey(account, ''), undefined, 1_000_000)).map((k) => k.slice(k.lastIndexOf('/') + 1));
            assert.deepEqual(listed.slice().sort(), mine.sort(), `the catalog of ${patientId} lists exactly its stored batches`);
          }
          assert.ok(accounts.length > 0);
          const bad = await client.request('GET', `/v1/catalog/batches?patientAccount=${accounts[0]}&from=soon&to=1`);
          assert.equal(bad.status, 400);
        } finally {
          // SIGTERM flushes the telemetry buffer.
          assert.equal(await ingest.stop('SIGTERM'), 0, ingest.stderr());
        }
        const requests = await influxRows(influx.url, 'vitalgate_telemetry', 'SELECT * FROM "ingest_request"');
        assert.ok(requests.length >= accounts.length + 1, `${requests.length} telemetry points`);
        assert.ok(requests.every((p) => p.route === 'GET /v1/catalog/batches' && typeof p.latency_ms === 'number'), JSON.stringify(requests[0]));
        assert.deepEqual(requests.filter((p) => p.status !== '200').map((p) => [p.status, p.error]), [['400', 'bad-metadata']], 'refusals by reason');
        const dump = JSON.stringify(requests).toLowerCase();
        for (const a of accounts) assert.ok(!dump.includes(a.toLowerCase().slice(2)), 'no patient account in telemetry');
      } finally {
        await influx.stop();
      }
    });

    it('a gateway with --influx writes its status figures (counts and sizes, from the allowlist) to vitalgate_telemetry', async function () {
      requireProgram(this, 'influxd', 'influxdb');
      const influx = await startInfluxd(join(dir, 'influx-gw'));
      try {
        const gw = await startDaemon(['gateway', '--data-dir', join(dir, 'gw-telemetry'), '--broker', 'none', '--patient', 'patient-0001', '--status-seconds', '1', '--log-level', 'info'],
          { ...env, INFLUX_URL: influx.url });
        await new Promise((r) => setTimeout(r, 2500));
        assert.equal(await gw.stop('SIGTERM'), 0, gw.stderr());
        const points = await influxRows(influx.url, 'vitalgate_telemetry', 'SELECT * FROM "gateway_status"');
        assert.ok(points.length >= 2, `${points.length} status points`);
        const allowed = new Set(['time', 'gateway', 'readings_per_second', 'readings_accepted', 'batches_sealed', 'unanchored_batches', 'spool_waiting', 'spool_waiting_bytes',
          'spool_records_waiting', 'spool_oldest_waiting_ms', 'spool_over_quota', 'uploads_per_second', 'uploaded_bytes', 'upload_latency_ms', 'rejected']);
        for (const p of points) for (const k of Object.keys(p)) assert.ok(allowed.has(k), `unexpected column ${k}`);
        assert.ok(points.every((p) => p.readings_accepted === 0 && p.gateway === 'vitalgate-gateway'));
        assert.match(gw.stderr(), /"msg":"status"/);
        assert.ok(!JSON.stringify(points).includes('patient-0001'), 'no patient id in telemetry');
      } finally {
        await influx.stop();
      }
    });
  });
});
