/**
 * Epoch and anchor records on a real ingest checking a real anvil chain: stored once and
 * immutable; an anchor record believed only as far as it can be checked (its root rebuilt from its
 * ids, the root on chain from the caller, every batch it names stored as named, every patient the
 * caller's); every refusal names its reason and stores nothing.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wallet, type JsonRpcProvider } from 'ethers';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { ANVIL_DEV_KEYS, buildBatchTree, connectContracts, createProvider, deployOrLoad, patientRef, startAnvil, type AnvilNode, type Deployment } from '@vitalgate/contracts';
import { encodeCloudRecord, sealBatch, type AnchorUploadRecord } from '@vitalgate/protocol';
import { ChainGatewayDirectory, EmbeddedCatalog, IngestClient, LocalObjectStore, MemoryReplayCache, anchorKey, batchQuery, buildIngest, epochKey } from '../../../src/index.js';

const T0 = Date.UTC(2026, 11, 3, 9);
const KEY = new Uint8Array(32).fill(5);

describe('ingest: epoch and anchor records', function () {
  this.timeout(60_000);
  let node: AnvilNode;
  let provider: JsonRpcProvider;
  let deployment: Deployment;
  let dir: string;
  let app: FastifyInstance;
  let url: string;
  let objects: LocalObjectStore;
  let catalog: EmbeddedCatalog;
  let gw: Wallet, gw2: Wallet, patient: Wallet, patient2: Wallet;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vg-records-'));
    node = await startAnvil();
    provider = createProvider(node.url, node.chainId);
    const admin = new Wallet(ANVIL_DEV_KEYS[0]!, provider);
    deployment = (await deployOrLoad(admin, join(dir, 'deployment.json'))).deployment;
    [gw, gw2, patient, patient2] = [1, 2, 3, 4].map((i) => new Wallet(ANVIL_DEV_KEYS[i]!, provider)) as [Wallet, Wallet, Wallet, Wallet];
    const reg = connectContracts(deployment, admin).registry;
    await (await reg.registerGateway(gw.address)).wait();
    await (await reg.registerGateway(gw2.address)).wait();
    await (await reg.registerPatient(patient.address, patientRef('rec-p1'), gw.address)).wait();
    await (await reg.registerPatient(patient2.address, patientRef('rec-p2'), gw2.address)).wait();
    objects = new LocalObjectStore(join(dir, 'objects'));
    catalog = await EmbeddedCatalog.open(join(dir, 'catalog'));
    app = await buildIngest({ store: objects, catalog, directory: new ChainGatewayDirectory(deployment, provider, 0), replay: new MemoryReplayCache(), logger: pino({ level: 'silent' }) });
    url = await app.listen({ port: 0, host: '127.0.0.1' });
  });
  after(async () => {
    await app?.close();
    await catalog?.close();
    provider?.destroy();
    await node?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const seal = (seq: number, patientId = 'rec-p1') => sealBatch(KEY, { stream: 'hr', patientId, deviceId: 'band', epoch: 1, seq, bodies: [{ seq, ts: T0 + seq * 1000, values: { hr: 70 } }] });
  async function store(s: ReturnType<typeof seal>, account = patient.address, as = gw): Promise<void> {
    const r = await new IngestClient(url, as).request('PUT', `/v1/batches/${s.id}${batchQuery(s.header, account)}`, s.bytes);
    assert.equal(r.status, 201, JSON.stringify(r.json));
  }
  const ref = (s: ReturnType<typeof seal>, account = patient.address) => ({ id: s.id, patientAccount: account, stream: s.header.stream, firstTs: s.header.firstTs });
  async function anchorOnChain(root: string, as = gw): Promise<{ txHash: string; blockNumber: number; blockTimestamp: number }> {
    const r = (await (await connectContracts(deployment, as).dataAnchor.anchor(root, 1, T0, T0 + 1, 'ingest-test')).wait())!;
    const b = (await provider.getBlock(r.blockNumber))!;
    return { txHash: r.hash, blockNumber: r.blockNumber, blockTimestamp: b.timestamp };
  }
  const record = (root: string, batches: AnchorUploadRecord['batches'], tx: { txHash: string; blockNumber: number; blockTimestamp: number }, gateway = gw.address): Uint8Array =>
    encodeCloudRecord({ v: 1, gateway, root, ...tx, batches });

  it('an epoch record is stored once; the same bytes again are a no-op; different bytes, a wrong path, another gateway\'s name and junk are refused', async () => {
    const c = new IngestClient(url, gw);
    const rec = encodeCloudRecord({ v: 1, gateway: gw.address, epoch: 5, startedAt: T0, reason: 'timer' });
    assert.equal((await c.request('PUT', '/v1/epochs/5', rec)).status, 201);
    assert.equal((await c.request('PUT', '/v1/epochs/5', rec)).status, 200);
    const cases: Array<[string, string, Uint8Array, number, string]> = [
      ['different bytes', '/v1/epochs/5', encodeCloudRecord({ v: 1, gateway: gw.address, epoch: 5, startedAt: T0 + 1, reason: 'timer' }), 409, 'record-conflict'],
      ['path and record disagree', '/v1/epochs/6', rec, 400, 'record-mismatch'],
      ['another gateway\'s record', '/v1/epochs/5', encodeCloudRecord({ v: 1, gateway: gw2.address, epoch: 5, startedAt: T0, reason: 'timer' }), 403, 'not-your-record'],
      ['not JSON', '/v1/epochs/7', new TextEncoder().encode('{"v":1,'), 400, 'bad-record'],
      ['bad epoch in the path', '/v1/epochs/x7', rec, 400, 'bad-epoch'],
    ];
    for (const [what, path, body, status, code] of cases) {
      const r = await c.request('PUT', path, body);
      assert.deepEqual([r.status, r.json?.error], [status, code], what);
    }
    assert.deepEqual(await objects.get(epochKey(gw.address, 5)), rec, 'the first record is kept');
    assert.deepEqual(await objects.list(`records/${gw.address}/epochs/`, undefined, 10), [epochKey(gw.address, 5)]);
  });

  it('an anchor record is taken only when its root rebuilds from its ids, is on chain from the caller, and names stored batches of the caller\'s patients', async () => {
    const [a, b, c] = [seal(1), seal(2), seal(3)];
    await store(a);
    await store(b);
    const client = new IngestClient(url, gw);
    const tree = buildBatchTree([a.id, b.id]);
    const put = (root: string, body: Uint8Array, as = client) => as.request('PUT', `/v1/anchors/${root}`, body);

    const noTx = { txHash: `0x${'ab'.repeat(32)}`, blockNumber: 1, blockTimestamp: 1 };
    let r = await put(tree.root, record(tree.root, [ref(a), ref(b)], noTx));
    assert.deepEqual([r.status, r.json?.error], [409, 'anchor-not-on-chain'], 'not anchored yet');
    const tx = await anchorOnChain(tree.root);

    r = await put(tree.root, record(tree.root, [ref(a)], tx));
    assert.deepEqual([r.status, r.json?.error], [400, 'root-mismatch'], 'ids that do not rebuild the root');
    r = await put(tree.root, record(tree.root, [ref(a), { ...ref(b), stream: 'ecg' }], tx));
    assert.deepEqual([r.status, r.json?.error], [400, 'record-mismatch'], 'a batch named under another stream');
    r = await put(tree.root, record(tree.root, [ref(a), ref(b)], tx, gw2.address));
    assert.deepEqual([r.status, r.json?.error], [403, 'not-your-record'], 'naming another gateway');
    r = await put(`0x${'00'.repeat(32)}`, record(tree.root, [ref(a), ref(b)], tx));
    assert.deepEqual([r.status, r.json?.error], [400, 'record-mismatch'], 'path and record disagree');
    assert.equal(await objects.get(anchorKey(gw.address, tree.root)), undefined, 'nothing stored by the refusals');

    r = await put(tree.root, record(tree.root, [ref(a), ref(b)], tx));
    assert.equal(r.status, 201, JSON.stringify(r.json));
    assert.equal((await put(tree.root, record(tree.root, [ref(a), ref(b)], tx))).status, 200, 'the same bytes again');
    const page = await catalog.batches({ patientId: patient.address, from: 0, to: T0 + 10_000, limit: 10 });
    assert.deepEqual(page.entries.map((e) => e.anchor?.root), [tree.root, tree.root], 'the catalog shows the anchor on both batches');
    const listed = await client.request('GET', '/v1/anchors');
    assert.deepEqual(listed.json?.roots, [tree.root]);
    assert.deepEqual((await client.request('GET', `/v1/anchors/${tree.root}`)).body, record(tree.root, [ref(a), ref(b)], tx));

    // A root over a batch not uploaded yet waits (409) until it is; then it is taken.
    const later = buildBatchTree([c.id]);
    const tx2 = await anchorOnChain(later.root);
    r = await put(later.root, record(later.root, [ref(c)], tx2));
    assert.deepEqual([r.status, r.json?.error], [409, 'batches-not-stored']);
    await store(c);
    assert.equal((await put(later.root, record(later.root, [ref(c)], tx2))).status, 201);
  });

  it('an anchor record naming another gateway\'s patient is refused (403), even when anchored by the caller', async () => {
    const other = seal(10, 'rec-p2');
    await store(other, patient2.address, gw2);
    const tree = buildBatchTree([other.id]);
    const tx = await anchorOnChain(tree.root);
    const r = await new IngestClient(url, gw).request('PUT', `/v1/anchors/${tree.root}`, record(tree.root, [ref(other, patient2.address)], tx));
    assert.deepEqual([r.status, r.json?.error], [403, 'not-your-patient']);
    assert.equal(await objects.get(anchorKey(gw.address, tree.root)), undefined);
  });
});
