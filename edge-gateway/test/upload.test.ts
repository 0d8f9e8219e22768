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
import { ChainGatewayDirectory, LocalObjectStore, MemoryReplayCache, batchKey, buildIngest } from '@vitalgate/ingest';
import { BatchIndex, Gateway, PackStore } from '../src/index.js';
import { TEST_SCRYPT, tempDir } from './helpers.js';

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

  async function assertAllInCloud(dataDir: string): Promise<number> {
    const records = await BatchIndex.load(join(dataDir, 'index.jsonl'));
    const store = new PackStore(join(dataDir, 'store'));
    for (const r of records) {
      const pack = await store.readPack(r.pack);
      assert.deepEqual(await objects.get(batchKey(r.patientId, r.id)), pack.subarray(r.offset, r.offset + r.bytes), `batch ${r.id} in the cloud as sealed`);
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
    await gw.stop(); // seals what was pending and uploads it too
    const n = await assertAllInCloud(dataDir);
    assert.deepEqual([gw.metrics().upload!.uploaded, gw.metrics().upload!.waiting], [n, 0], 'each batch uploaded once, none left');

    // Confirmations lost (the last lines of the upload log torn away): sent again, taken as no-ops.
    const log = (await readFile(join(dataDir, 'uploads.jsonl'), 'utf8')).split('\n').filter(Boolean);
    await writeFile(join(dataDir, 'uploads.jsonl'), log.slice(0, -5).join('\n') + '\n');
    gw = await Gateway.start(opts);
    assert.equal(gw.metrics().upload!.waiting, 5, `the five unconfirmed batches are queued again: ${JSON.stringify(gw.metrics().upload)} log ${log.length}`);
    await until(() => gw.metrics().upload!.waiting === 0, 'the re-sent batches are confirmed');
    assert.deepEqual(gw.metrics().upload!.refused, {});
    await gw.stop();
    assert.equal(await assertAllInCloud(dataDir), n, 'nothing new, nothing lost');

    // A clean restart has nothing to send.
    gw = await Gateway.start(opts);
    assert.equal(gw.metrics().upload!.waiting, 0);
    await gw.stop();
  });

  it('refuses to upload without the chain (requests are signed with the gateway account)', async () => {
    await assert.rejects(Gateway.start({ dataDir: join(t.dir, 'nochain'), passphrase: PASS, scrypt: TEST_SCRYPT, logger: quiet, ingest: { url: 'http://127.0.0.1:9' } }), /needs the chain/);
  });
});
