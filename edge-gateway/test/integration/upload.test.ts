/**
 * Store and forward to a real ingest server on loopback, which checks the gateway's signatures
 * against a real anvil chain: batches sealed while ingest is down wait and are all uploaded once it
 * is up; a restart resumes from the upload log; a lost confirmation is sent again and ingest takes
 * it as a no-op. Every indexed batch ends up in ingest's storage exactly as sealed.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Wallet, type JsonRpcProvider } from 'ethers';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { ANVIL_DEV_KEYS, createProvider, deployOrLoad, startAnvil, type AnvilNode, type Deployment } from '@vitalgate/contracts';
import { ChainGatewayDirectory, LocalObjectStore, MemoryReplayCache, anchorKey, buildIngest, epochKey } from '@vitalgate/ingest';
import { parseAnchorRecord, parseEpochRecord } from '@vitalgate/protocol';
import { BatchIndex, EpochClock, Gateway, PackStore, readAnchors } from '../../src/index.js';
import { TEST_SCRYPT, tempDir } from '../helpers.js';

const PASS = 'upload test passphrase';
const quiet = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function until(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(50);
  }
}

describe('upload to ingest (store and forward)', function () {
  this.timeout(90_000);
  let node: AnvilNode;
  let provider: JsonRpcProvider;
  let deployment: Deployment;
  let t: { dir: string; cleanup: () => Promise<void> };
  let ingest: FastifyInstance | undefined;
  let objects: LocalObjectStore;

  before(async () => {
    t = await tempDir('vg-upload-');
    node = await startAnvil();
    provider = createProvider(node.url, node.chainId);
    deployment = (await deployOrLoad(new Wallet(ANVIL_DEV_KEYS[0]!, provider), join(t.dir, 'deployment.json'))).deployment;
    objects = new LocalObjectStore(join(t.dir, 'cloud'));
  });
  after(async () => {
    await ingest?.close();
    provider?.destroy();
    await node?.stop();
    await t?.cleanup();
  });

  async function startIngest(port: number): Promise<void> {
    ingest = await buildIngest({ store: objects, directory: new ChainGatewayDirectory(deployment, provider), replay: new MemoryReplayCache(), logger: quiet });
    await ingest.listen({ port, host: '127.0.0.1' });
  }

  /** Every indexed batch is in the cloud as sealed (under its patient's account), and every epoch and mined root has its record. */
  async function assertAllInCloud(dataDir: string): Promise<number> {
    const records = await BatchIndex.load(join(dataDir, 'index.jsonl'));
    const store = new PackStore(join(dataDir, 'store'));
    const inCloud = new Map<string, string>();
    for (const k of await objects.list('batches/', undefined, 1_000_000)) inCloud.set(k.split('/').at(-1)!, k);
    for (const r of records) {
      const pack = await store.readPack(r.pack);
      const key = inCloud.get(r.id);
      assert.ok(key, `batch ${r.id} in the cloud`);
      assert.deepEqual(await objects.get(key), pack.subarray(r.offset, r.offset + r.bytes), `batch ${r.id} in the cloud as sealed`);
    }
    assert.equal(inCloud.size, records.length, 'no batch in the cloud that the gateway did not seal');
    const { address } = JSON.parse(await readFile(join(dataDir, 'gateway-account.json'), 'utf8')) as { address: string };
    const epochs = await EpochClock.readLog(join(dataDir, 'epochs.jsonl'));
    for (const e of epochs) {
      const rec = parseEpochRecord((await objects.get(epochKey(address, e.epoch)))!);
      assert.ok(rec.ok && rec.value.epoch === e.epoch && rec.value.startedAt === e.startedAt, `epoch ${e.epoch} record in the cloud`);
    }
    const mined = (await readAnchors(join(dataDir, 'anchors.jsonl'))).filter((a) => a.mined);
    assert.ok(mined.length > 0, 'at least one root was mined');
    for (const a of mined) {
      const rec = parseAnchorRecord((await objects.get(anchorKey(address, a.root)))!);
      assert.ok(rec.ok, `anchor record for ${a.root} in the cloud`);
      assert.deepEqual(rec.value.batches.map((b) => b.id).sort(), [...a.ids].sort(), 'the record names exactly the batches under the root');
      assert.equal(rec.value.txHash, a.mined!.txHash);
    }
    return records.length;
  }

  it('batches sealed while ingest is down wait, then all go up; a restart resumes; a lost confirmation is re-sent as a no-op', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const dataDir = join(t.dir, 'gw');
    const opts = {
      dataDir, passphrase: PASS, scrypt: TEST_SCRYPT, logger: quiet, batchWindowMs: 50,
      chain: { url: node.url, deploymentFile: join(t.dir, 'deployment.json'), adminKey: ANVIL_DEV_KEYS[0]!, anchorPeriodMs: 60_000 },
      ingest: { url },
    };
    let gw = await Gateway.start(opts);
    let seq = 0;
    const feed = async (ms: number) => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        for (const p of ['up1', 'up2']) gw.acceptReading(p, 'strap', 'hr', { seq, ts: Date.now(), values: { hr: 70 } });
        seq++;
        await sleep(10);
      }
    };
    await feed(800);
    await until(() => /unreachable/.test(gw.metrics().upload!.lastError ?? ''), 'an upload attempt fails while ingest is down');
    const down = gw.metrics().upload!;
    assert.ok(down.waiting > 0, 'batches wait while ingest is down');
    assert.match(down.lastError ?? '', /unreachable/);

    await startIngest(port);
    await feed(500);
    await until(() => gw.metrics().upload!.waiting === 0, 'the spool drains once ingest is up').catch((e: Error) => { throw new Error(`${e.message}: ${JSON.stringify(gw.metrics().upload)}`); });
    const up = gw.metrics().upload!;
    assert.equal(up.lastError, undefined);
    assert.ok(up.uploaded > 0);
    // Batches that waited out the outage count its length in their upload latency.
    assert.ok(up.uploadLatencyMsSum / up.uploaded > 50, `mean upload latency ${up.uploadLatencyMsSum / up.uploaded} ms across an outage`);
    await gw.stop(); // seals what was pending and uploads it too
    const n = await assertAllInCloud(dataDir);
    assert.deepEqual([gw.metrics().upload!.uploaded, gw.metrics().upload!.waiting], [n, 0], 'each batch uploaded once, none left');

    // Confirmations lost (the last lines of the upload log torn away): sent again, taken as no-ops.
    const log = (await readFile(join(dataDir, 'uploads.jsonl'), 'utf8')).split('\n').filter(Boolean);
    await writeFile(join(dataDir, 'uploads.jsonl'), log.slice(0, -5).join('\n') + '\n');
    gw = await Gateway.start(opts);
    const again = gw.metrics().upload!;
    // The fresh start adds its own epoch record to the five unconfirmed items.
    assert.equal(again.waiting + again.recordsWaiting, 6, `the five unconfirmed items are queued again: ${JSON.stringify(again)} log ${log.length}`);
    await until(() => gw.metrics().upload!.waiting + gw.metrics().upload!.recordsWaiting === 0, 'the re-sent items are confirmed');
    assert.deepEqual(gw.metrics().upload!.refused, {});
    await gw.stop();
    assert.equal(await assertAllInCloud(dataDir), n, 'nothing new, nothing lost');

    // A clean restart has nothing to send.
    gw = await Gateway.start(opts);
    assert.equal(gw.metrics().upload!.waiting, 0);
    await gw.stop();
    assert.equal(gw.metrics().upload!.recordsWaiting, 0, 'its epoch record went up too');
  });

  it('uploads side by side once a backlog forms, though the spool was empty when uploading began', async () => {
    // Ingest answering slowly (300 ms a bundle): one upload at a time would fall behind. The
    // uploads that were started with one batch waiting must not be the only ones ever running.
    await ingest?.close();
    objects = new LocalObjectStore(join(t.dir, 'cloud-concurrent'));
    const port = await freePort();
    ingest = await buildIngest({ store: objects, directory: new ChainGatewayDirectory(deployment, provider), replay: new MemoryReplayCache(), logger: quiet });
    let running = 0;
    let most = 0;
    let bundles = 0;
    ingest.addHook('preHandler', async (req) => {
      if (req.method !== 'POST' || req.url !== '/v1/batches') return;
      bundles++;
      most = Math.max(most, ++running);
      await sleep(300);
      running--;
    });
    await ingest.listen({ port, host: '127.0.0.1' });
    const dataDir = join(t.dir, 'gw-concurrent');
    const gw = await Gateway.start({
      dataDir, passphrase: PASS, scrypt: TEST_SCRYPT, logger: quiet, batchWindowMs: 20,
      chain: { url: node.url, deploymentFile: join(t.dir, 'deployment.json'), adminKey: ANVIL_DEV_KEYS[0]!, anchorPeriodMs: 60_000 },
      ingest: { url: `http://127.0.0.1:${port}` },
    });
    const patients = ['cc1', 'cc2', 'cc3', 'cc4'];
    for (let seq = 0, end = Date.now() + 2500; Date.now() < end; seq++) {
      for (const p of patients) gw.acceptReading(p, 'strap', 'hr', { seq, ts: Date.now(), values: { hr: 60 + (seq % 40) } });
      await sleep(5);
    }
    await until(() => gw.metrics().upload!.waiting === 0, 'the spool drains', 30_000);
    await gw.stop();
    assert.ok(bundles > 4, `${bundles} bundles`);
    assert.ok(most >= 4, `at most ${most} bundle(s) were in flight at once; the uploader runs up to 8`);
    const n = await assertAllInCloud(dataDir);
    assert.deepEqual([gw.metrics().upload!.uploaded, gw.metrics().upload!.waiting], [n, 0], 'each batch uploaded once, none left');
  });

  it('refuses to upload without the chain (requests are signed with the gateway account)', async () => {
    await assert.rejects(Gateway.start({ dataDir: join(t.dir, 'nochain'), passphrase: PASS, scrypt: TEST_SCRYPT, logger: quiet, ingest: { url: 'http://127.0.0.1:9' } }), /needs the chain/);
  });
});
