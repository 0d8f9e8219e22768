/**
 * vitalgate-upload against real parts: an anvil chain with the contracts deployed (the keystore's
 * development admin key registers the gateway and binds its patients, as `vitalgate gateway` does
 * on a dev chain), and a real ingest server on local storage that checks every request against that
 * chain. Simulated wearables (device-sim SimDevice) feed keystore → seal → upload in the Node-RED
 * runtime. What seal emitted, what upload confirmed, what the flow saw completed and what ingest
 * stored are reconciled id by id, with ingest first down and then up.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Wallet, type JsonRpcProvider } from 'ethers';
import pino from 'pino';
import { ANVIL_DEV_KEYS, createProvider, deployOrLoad, startAnvil, type AnvilNode, type Deployment } from '@vitalgate/contracts';
import { ChainGatewayDirectory, LocalObjectStore, MemoryReplayCache, buildIngest } from '@vitalgate/ingest';
import { BatchIndex, type BatchRecord } from '@vitalgate/edge-gateway';
import { PROFILES, SimDevice } from '@vitalgate/device-sim';
import { freePort } from '@vitalgate/test-support';
import { initHelper, nodeFile, sleep, tempDir, until } from '../helpers.js';

const require = createRequire(import.meta.url);
const helper = initHelper();
// Node-RED's own complete and catch nodes: `done()` and `done(err)` of the upload node, as a flow sees them.
const core = (file: string): unknown => require(require.resolve(`@node-red/nodes/core/common/${file}`, { paths: [dirname(require.resolve('node-red'))] }));
const NODES = [...['keystore', 'seal', 'upload'].map(nodeFile), core('24-complete.js'), core('25-catch.js')];
const quiet = pino({ level: 'silent' });
type Msg = Record<string, any>;

/** Ingest's storage, noting every stored write of a batch: a batch ingest confirmed twice would show here. */
class CountingStore extends LocalObjectStore {
  readonly batchPuts = new Map<string, number>();
  override async put(key: string, bytes: Uint8Array): Promise<boolean> {
    const created = await super.put(key, bytes);
    if (key.startsWith('batches/')) {
      const id = key.split('/').at(-1)!;
      this.batchPuts.set(id, (this.batchPuts.get(id) ?? 0) + 1);
    }
    return created;
  }
}

function collect(id: string): Msg[] {
  const got: Msg[] = [];
  helper.getNode(id).on('input', (m: Msg) => got.push(m));
  return got;
}
function statusOf(id: string): () => { fill?: string; text: string } {
  let last = { text: '' } as { fill?: string; text: string };
  helper.getNode(id).on('call:status', (call: { args: Array<{ fill?: string; text?: string }> }) => {
    last = { ...(call.args[0]?.fill !== undefined && { fill: call.args[0].fill }), text: call.args[0]?.text ?? '' };
  });
  return () => last;
}
const tally = (ids: string[]): Map<string, number> => {
  const m = new Map<string, number>();
  for (const id of ids) m.set(id, (m.get(id) ?? 0) + 1);
  return m;
};
const sorted = (ids: Iterable<string>): string[] => [...ids].sort();

describe('node-red vitalgate-upload: keystore → seal → upload against anvil and a real ingest', function () {
  this.timeout(120_000);
  let chain: AnvilNode;
  let provider: JsonRpcProvider;
  let deployment: Deployment;
  let t: Awaited<ReturnType<typeof tempDir>>;
  let deploymentFile: string;
  let adminKeyFile: string;
  let ingest: Awaited<ReturnType<typeof buildIngest>> | undefined;

  before(async () => {
    t = await tempDir('vg-nr-upload-');
    chain = await startAnvil();
    provider = createProvider(chain.url, chain.chainId);
    deploymentFile = join(t.dir, 'deployment.json');
    deployment = (await deployOrLoad(new Wallet(ANVIL_DEV_KEYS[0]!, provider), deploymentFile)).deployment;
    adminKeyFile = join(t.dir, 'admin.key');
    await writeFile(adminKeyFile, `${ANVIL_DEV_KEYS[0]!}\n`, { mode: 0o600 });
    await helper.startServer();
  });
  after(async () => {
    await helper.unload();
    await helper.stopServer();
    await ingest?.close();
    provider?.destroy();
    await chain?.stop();
    await t?.cleanup();
  });
  afterEach(async () => {
    await helper.unload();
    await ingest?.close();
    ingest = undefined;
  });

  async function startIngest(store: CountingStore, port: number): Promise<void> {
    ingest = await buildIngest({ store, directory: new ChainGatewayDirectory(deployment, provider), replay: new MemoryReplayCache(), logger: quiet });
    await ingest.listen({ port, host: '127.0.0.1' });
  }

  /** The flow under test, with taps on what seal emits, what upload sends on, and what completes or fails at upload. */
  async function loadFlow(name: string, ingestUrl: string) {
    const dataDir = join(t.dir, name);
    await helper.load(NODES, [
      { id: 'ks', type: 'vitalgate-keystore', dataDir, passphraseFile: t.passFile, batchWindowMs: '200', chainUrl: chain.url, deploymentFile, adminKeyFile },
      { id: 's', type: 'vitalgate-seal', keystore: 'ks', wires: [['u', 'sealed']] },
      { id: 'u', type: 'vitalgate-upload', keystore: 'ks', ingest: ingestUrl, wires: [['uploaded']] },
      { id: 'c', type: 'complete', scope: ['u'], uncaught: false, wires: [['completed']] },
      { id: 'x', type: 'catch', scope: ['u'], uncaught: false, wires: [['failed']] },
      { id: 'sealed', type: 'helper' },
      { id: 'uploaded', type: 'helper' },
      { id: 'completed', type: 'helper' },
      { id: 'failed', type: 'helper' },
    ]);
    return {
      dataDir,
      sealed: collect('sealed'),
      uploaded: collect('uploaded'),
      completed: collect('completed'),
      failed: collect('failed'),
      status: statusOf('u'),
    };
  }

  /** Real-time readings from two patients' patches into the seal node; returns how many went in. */
  async function feed(prefix: string, ms: number): Promise<number> {
    const start = Date.now();
    const devices = [1, 2].map((i) => new SimDevice(`${prefix}-patch${i}`, `${prefix}-patient${i}`, PROFILES.mixed!, start, 40 + i));
    let fed = 0;
    while (Date.now() - start < ms) {
      await sleep(100);
      const now = Date.now();
      for (const d of devices) {
        for (const r of d.due(now)) {
          helper.getNode('s').receive({ payload: { patientId: d.patientId, deviceId: d.deviceId, stream: r.stream, body: r.body } });
          fed++;
        }
      }
    }
    return fed;
  }

  const indexed = async (dataDir: string): Promise<BatchRecord[]> => BatchIndex.load(join(dataDir, 'index.jsonl')).catch(() => []);
  const readingsIn = (msgs: Msg[]) => msgs.reduce((n, m) => n + (m.payload.count as number), 0);

  /**
   * Once the flow has stopped (the gateway sealed what was pending and made a last upload attempt):
   * seal emitted each reading batch once, upload confirmed and completed each of those exactly once,
   * and ingest stored exactly the gateway's batches (its readings and its minute summaries), each once.
   */
  async function reconcile(f: Awaited<ReturnType<typeof loadFlow>>, store: CountingStore): Promise<void> {
    const sealedIds = f.sealed.map((m) => m.payload.id as string);
    assert.equal(new Set(sealedIds).size, sealedIds.length, 'seal emitted a batch twice');
    const recs = await indexed(f.dataDir);
    assert.deepEqual(sorted(recs.filter((r) => !r.kind).map((r) => r.id)), sorted(sealedIds), 'seal emitted exactly the reading batches the gateway indexed');
    assert.deepEqual(tally(f.uploaded.map((m) => m.payload.id)), tally(sealedIds), 'upload sent each sealed batch on exactly once');
    for (const m of f.uploaded) assert.equal(m.uploaded, true);
    assert.deepEqual(tally(f.completed.map((m) => m.payload.id)), tally(sealedIds), 'each batch message completed exactly once');
    assert.deepEqual(f.failed.map((m) => m.error?.message), [], 'no batch message failed');
    assert.deepEqual(sorted(store.batchPuts.keys()), sorted(recs.map((r) => r.id)), 'ingest holds exactly the gateway\'s batches, none extra');
    for (const [id, n] of store.batchPuts) assert.equal(n, 1, `ingest stored batch ${id} ${n} times`);
  }

  it('uploads every sealed batch once, completes each message only after ingest stored it, and shows the count', async () => {
    const store = new CountingStore(join(t.dir, 'cloud-up'));
    const port = await freePort();
    await startIngest(store, port);
    const f = await loadFlow('gw-up', `http://127.0.0.1:${port}`);
    // The message is done only once ingest holds the batch and the confirmation is in the upload log.
    const early: string[] = [];
    helper.getNode('completed').on('input', (m: Msg) => {
      const id = m.payload.id as string;
      const logged = readFileSync(join(f.dataDir, 'uploads.jsonl'), 'utf8').includes(`"${id}"`);
      if (store.batchPuts.get(id) !== 1 || !logged) early.push(id);
    });

    const fed = await feed('up', 2500);
    assert.ok(fed > 50, `fed ${fed} readings`);
    await until(() => readingsIn(f.sealed) === fed, () => `every reading sealed (fed ${fed}, sealed ${readingsIn(f.sealed)})`, 30_000);
    await until(() => f.completed.length === f.sealed.length, () => `every batch completed (${f.completed.length} of ${f.sealed.length})`, 30_000);
    assert.deepEqual(early, [], 'completed before ingest stored the batch and the gateway logged it');
    assert.ok(f.sealed.length >= 10, `${f.sealed.length} batches`);

    // The status names the spool's depth and the uploaded count, which is every batch ingest holds.
    await until(async () => {
      const n = store.batchPuts.size;
      return f.status().text === `spool 0 batches (0 KiB), uploaded ${n}` && (await indexed(f.dataDir)).length === n;
    }, () => `status "spool 0 batches (0 KiB), uploaded <ingest's count>"; last "${f.status().text}", ingest ${store.batchPuts.size}`);
    assert.equal(f.status().fill, 'green');

    await helper.unload();
    await reconcile(f, store);
  });

  it('keeps batches in the spool while ingest is down, completes none, and loses nothing once ingest starts', async () => {
    const store = new CountingStore(join(t.dir, 'cloud-down'));
    const port = await freePort();
    const f = await loadFlow('gw-down', `http://127.0.0.1:${port}`);

    const fed = await feed('down', 2000);
    await until(() => readingsIn(f.sealed) === fed, () => `every reading sealed (fed ${fed}, sealed ${readingsIn(f.sealed)})`, 30_000);
    // Every durable batch waits in the spool; the status says how many, and why.
    let spooled = 0;
    await until(async () => {
      spooled = (await indexed(f.dataDir)).length;
      const m = /^spool (\d+) batches \(\d+ KiB\), uploaded 0: .*unreachable/.exec(f.status().text);
      return m !== null && Number(m[1]) === spooled;
    }, () => `status shows every indexed batch spooled and ingest unreachable; last "${f.status().text}"`);
    assert.ok(spooled >= f.sealed.length && f.sealed.length >= 5, `${spooled} spooled, ${f.sealed.length} sealed`);
    assert.equal(f.status().fill, 'red');
    assert.equal(f.completed.length, 0, 'nothing completed while ingest is down');
    assert.equal(f.uploaded.length, 0, 'nothing sent on while ingest is down');
    assert.equal(store.batchPuts.size, 0);

    await startIngest(store, port);
    await until(() => f.completed.length === f.sealed.length, () => `the spool drains (${f.completed.length} of ${f.sealed.length} completed; status "${f.status().text}")`, 60_000);
    await until(() => /^spool 0 batches \(0 KiB\), uploaded \d+$/.test(f.status().text), () => `status shows the spool empty; last "${f.status().text}"`);
    assert.ok(Number(/uploaded (\d+)$/.exec(f.status().text)![1]) >= spooled, 'at least every batch that waited is counted uploaded');

    await helper.unload();
    await reconcile(f, store);
  });
});
