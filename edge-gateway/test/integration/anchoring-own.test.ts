/**
 * Anchoring cannot be hijacked or stalled, and verify works from the chain back (real anvil):
 *  - another registered gateway that anchors this gateway's pending root first does not take it:
 *    the gateway sends its own transaction and records only its own event;
 *  - a patient the Registry does not bind to this gateway holds back only that patient's batches;
 *  - removing packs, index and anchor log records together is found from the chain's events.
 */
import assert from 'node:assert/strict';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import pino from 'pino';
import { bytesToHex } from '@noble/hashes/utils.js';
import {
  ANVIL_DEV_KEYS, buildBatchTree, connectContracts, createProvider, deployOrLoad, patientRef, startAnvil, type AnvilNode, type Deployment,
} from '@vitalgate/contracts';
import { BatchIndex, Gateway, Keystore, readAnchors, verifyStore } from '../../src/index.js';
import { TEST_SCRYPT, tempDir } from '../helpers.js';

const PASS = 'own anchoring test passphrase';
const quiet = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('anchoring: own roots only, no stall, verify from the chain back', function () {
  this.timeout(120_000);
  let node: AnvilNode;
  let t: { dir: string; cleanup: () => Promise<void> };
  let deploymentFile: string;
  let deployment: Deployment;
  let admin: Wallet;

  before(async () => {
    t = await tempDir('vg-own-');
    node = await startAnvil();
    deploymentFile = join(t.dir, 'deployment.json');
    admin = new Wallet(ANVIL_DEV_KEYS[0]!, createProvider(node.url));
    deployment = (await deployOrLoad(admin, deploymentFile)).deployment;
  });
  after(async () => {
    await node?.stop();
    await t?.cleanup();
  });

  async function feed(gw: Gateway, patients: string[], ms: number): Promise<void> {
    let seq = 0;
    const end = Date.now() + ms;
    while (Date.now() < end) {
      for (const p of patients) gw.acceptReading(p, 'dev', 'hr', { seq, ts: Date.now(), values: { hr: 70 } });
      seq++;
      await sleep(15);
    }
  }

  it('a root front-run by another gateway: this gateway still anchors it in its own transaction', async () => {
    const dir = join(t.dir, 'front');
    // Batches sealed with no chain, then a root over them written ahead, as if the gateway had
    // crashed right after sending it.
    const gw0 = await Gateway.start({ dataDir: dir, passphrase: PASS, scrypt: TEST_SCRYPT, logger: quiet, batchWindowMs: 40 });
    await feed(gw0, ['fp1'], 300);
    await gw0.stop();
    const records = await BatchIndex.load(join(dir, 'index.jsonl'));
    const tree = buildBatchTree(records.map((r) => r.id));
    const firstTs = Math.min(...records.map((r) => r.firstTs));
    const lastTs = Math.max(...records.map((r) => r.lastTs));
    await appendFile(join(dir, 'anchors.jsonl'), JSON.stringify({ lsn: 0, type: 'pending', root: tree.root, ids: records.map((r) => r.id), count: records.length, firstTs, lastTs, at: Date.now() }) + '\n');

    // A rival registered gateway (serving a patient of its own) records that root first.
    const rival = new Wallet(ANVIL_DEV_KEYS[5]!, admin.provider);
    const reg = connectContracts(deployment, admin).registry;
    await (await reg.registerGateway(rival.address)).wait();
    await (await reg.registerPatient(Wallet.createRandom().address, patientRef('rival-patient'), rival.address)).wait();
    const rivalTx = await (await connectContracts(deployment, rival).dataAnchor.anchor(tree.root, records.length, firstTs, lastTs, 'copied')).wait();

    const gw = await Gateway.start({
      dataDir: dir, passphrase: PASS, scrypt: TEST_SCRYPT, logger: quiet, batchWindowMs: 40,
      chain: { url: node.url, deploymentFile, adminKey: ANVIL_DEV_KEYS[0]!, anchorPeriodMs: 60_000 },
    });
    const own = gw.chainLink!.address;
    await gw.stop();
    const anchors = await readAnchors(join(dir, 'anchors.jsonl'));
    assert.equal(anchors.length, 1);
    const mined = anchors[0]!.mined!;
    assert.notEqual(mined.txHash, rivalTx!.hash, 'the rival\'s event was not adopted');
    const tx = await admin.provider!.getTransaction(mined.txHash);
    assert.equal(tx!.from, own, 'anchored by this gateway');
    const report = await verifyStore(dir, { url: node.url, deploymentFile });
    assert.equal(report.gateway, own);
    assert.deepEqual({ failed: report.failed, verified: report.verified }, { failed: 0, verified: records.length });
    // Checked against the rival's account instead, the same store does not verify.
    const asRival = await verifyStore(dir, { url: node.url, deploymentFile, gateway: rival.address });
    assert.equal(asRival.verified, 0);
    assert.ok(asRival.failed > 0);
  });

  it('a patient missing from the Registry holds back only their own batches', async () => {
    const dir = join(t.dir, 'held');
    const chain = { url: node.url, deploymentFile, anchorPeriodMs: 150 }; // no admin key: production mode
    // An admin registers the gateway and one of its two patients, by their accounts.
    const ks = await Keystore.open(join(dir, 'keys'), PASS, TEST_SCRYPT);
    const account = async (name: string) => new Wallet(`0x${bytesToHex(await ks.getOrCreateSecret(name))}`).address;
    const gwAddr = await account('eth-gateway');
    const reg = connectContracts(deployment, admin).registry;
    await (await reg.registerGateway(gwAddr)).wait();
    await (await admin.sendTransaction({ to: gwAddr, value: 10n ** 18n })).wait();
    await (await reg.registerPatient(await account('eth-patient-bound'), patientRef('bound'), gwAddr)).wait();

    const gw = await Gateway.start({ dataDir: dir, passphrase: PASS, scrypt: TEST_SCRYPT, logger: quiet, batchWindowMs: 40, chain });
    await feed(gw, ['bound', 'unbound'], 900);
    await sleep(400);
    const during = gw.metrics().anchoring!;
    assert.deepEqual(during.heldPatients, ['unbound']);
    assert.ok(during.anchors >= 1, 'the bound patient was anchored');
    await gw.stop();
    const records = await BatchIndex.load(join(dir, 'index.jsonl'));
    const anchored = new Set((await readAnchors(join(dir, 'anchors.jsonl'))).filter((a) => a.mined).flatMap((a) => a.ids));
    const byPatient = (p: string) => records.filter((r) => r.patientId === p);
    assert.ok(byPatient('bound').length > 0 && byPatient('unbound').length > 0);
    assert.deepEqual(byPatient('bound').filter((r) => !anchored.has(r.id)).map((r) => r.id), [], 'every bound batch anchored');
    assert.deepEqual(byPatient('unbound').filter((r) => anchored.has(r.id)).map((r) => r.id), [], 'no unbound batch anchored');
    const report = await verifyStore(dir, { url: node.url, deploymentFile });
    assert.deepEqual({ failed: report.failed, verified: report.verified, unanchored: report.unanchored },
      { failed: 0, verified: byPatient('bound').length, unanchored: byPatient('unbound').length });
  });

  it('verify finds roots on chain that the local anchor log lacks, and anchored batches the store lacks', async () => {
    const dir = join(t.dir, 'cut');
    const gw = await Gateway.start({
      dataDir: dir, passphrase: PASS, scrypt: TEST_SCRYPT, logger: quiet, batchWindowMs: 40,
      chain: { url: node.url, deploymentFile, adminKey: ANVIL_DEV_KEYS[0]!, anchorPeriodMs: 150 },
    });
    await feed(gw, ['cp1'], 1200);
    await gw.stop();
    const anchors = await readAnchors(join(dir, 'anchors.jsonl'));
    assert.ok(anchors.length >= 2, `${anchors.length} anchors`);
    const clean = await verifyStore(dir, { url: node.url, deploymentFile });
    assert.equal(clean.failed, 0);

    // Remove the newest anchor's batches from the index and the anchor log together.
    const last = anchors.at(-1)!;
    const gone = new Set(last.ids);
    const keep = (file: string, pred: (rec: Record<string, unknown>) => boolean) => readFile(join(dir, file), 'utf8')
      .then((text) => writeFile(join(dir, file), text.split('\n').filter((l) => l && pred(JSON.parse(l) as Record<string, unknown>)).map((l) => `${l}\n`).join('')));
    await keep('index.jsonl', (r) => !gone.has(r.id as string));
    await keep('anchors.jsonl', (r) => r.root !== last.root);
    const cut = await verifyStore(dir, { url: node.url, deploymentFile });
    assert.deepEqual(cut.onChainOnly.map((a) => a.root), [last.root]);
    assert.ok(cut.failures.some((f) => f.id === last.root && /missing from the local anchor log/.test(f.reason)));

    // Remove only index records: the anchor log still names them, so they are reported missing.
    const anchorsNow = await readAnchors(join(dir, 'anchors.jsonl'));
    const victim = anchorsNow[0]!.ids[0]!;
    await keep('index.jsonl', (r) => r.id !== victim);
    const lost = await verifyStore(dir, { url: node.url, deploymentFile });
    assert.ok(lost.failures.some((f) => f.id === victim && /missing from the store's index/.test(f.reason)), JSON.stringify(lost.failures.slice(0, 3)));
  });
});
