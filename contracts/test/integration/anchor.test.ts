import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ZeroHash, type Wallet } from 'ethers';
import { DEFAULT_ANCHOR_URI, batchLeaf, buildAccessLogTree, buildBatchTree, patientRef } from '../../src/index.js';
import { expectRevert, oneEvent, random32, send, setup, teardown, wallet, type Fixture } from './helpers.js';

const T0 = 1_767_225_600_000; // ms
const T1 = T0 + 29_999;

describe('contracts: DataAnchor and AuditLog (on anvil)', function () {
  let f: Fixture;
  let gateway: Wallet, gateway2: Wallet, idleGateway: Wallet, stranger: Wallet, auditor: Wallet;

  const anchor = () => f.c.dataAnchor;
  const iface = () => f.c.dataAnchor.interface;

  before(async () => {
    f = await setup();
    [gateway, gateway2, idleGateway, stranger] = [1, 2, 3, 9].map((i) => wallet(f, i)) as [Wallet, Wallet, Wallet, Wallet];
    auditor = wallet(f, 0);
    const r = f.c.registry;
    for (const g of [gateway, gateway2, idleGateway]) await send(r.registerGateway(g.address));
    await send(r.registerPatient(wallet(f, 4).address, patientRef('patient-0001'), gateway.address));
    await send(r.registerPatient(wallet(f, 5).address, patientRef('patient-0002'), gateway2.address));
  });
  after(async () => {
    await teardown(f);
  });

  describe('DataAnchor', () => {
    const batchIds = Array.from({ length: 50 }, () => random32());
    const tree = buildBatchTree(batchIds);

    it('anchor by a gateway serving patients: event and one-slot record', async () => {
      const receipt = await send(anchor().connect(gateway).anchor(tree.root, tree.count, T0, T1, DEFAULT_ANCHOR_URI));
      assert.deepEqual(oneEvent(receipt, iface(), 'Anchored'), [
        tree.root,
        gateway.address,
        50n,
        BigInt(T0),
        BigInt(T1),
        DEFAULT_ANCHOR_URI,
      ]);
      const rec = await anchor().rootRecord(gateway.address, tree.root);
      assert.equal(rec.submitter, gateway.address);
      assert.equal(rec.firstTs, BigInt(T0));
      assert.equal(rec.lastTs, BigInt(T1));
      assert.equal(await anchor().isRecorded(gateway.address, tree.root), true);
      assert.equal(await anchor().isRecorded(gateway2.address, tree.root), false, 'filed under its submitter only');
      assert.equal(await anchor().isRecorded(gateway.address, random32()), false);
      assert.ok(receipt.gasUsed < 60_000n, `anchor used ${receipt.gasUsed} gas`);
    });

    it('verifyBatch: every batch of the anchored root verifies; wrong ids, proofs and roots do not', async () => {
      for (const id of batchIds) assert.equal(await anchor().verifyBatch(gateway.address, tree.root, id, tree.proof(id)), true);
      assert.equal(await anchor().verifyBatch(gateway2.address, tree.root, batchIds[0]!, tree.proof(batchIds[0]!)), false, 'not under another gateway');
      const id = batchIds[7]!;
      assert.equal(await anchor().verifyBatch(gateway.address, tree.root, random32(), tree.proof(id)), false);
      assert.equal(await anchor().verifyBatch(gateway.address, tree.root, id, tree.proof(batchIds[8]!)), false);
      assert.equal(await anchor().verifyBatch(gateway.address, tree.root, id, []), false);
      const unanchored = buildBatchTree(batchIds.slice(0, 10));
      assert.equal(await anchor().verifyBatch(gateway.address, unanchored.root, id, unanchored.proof(id)), false, 'root not anchored');
      assert.equal(await anchor().leafOf(id), batchLeaf(id));
    });

    it('a single-batch root verifies with an empty proof', async () => {
      const id = random32();
      const one = buildBatchTree([id]);
      await send(anchor().connect(gateway2).anchor(one.root, 1, T0, T0, ''));
      assert.equal(await anchor().verifyBatch(gateway2.address, one.root, id, []), true);
    });

    it('anchor reverts: unauthorised caller, gateway with no patient, banned gateway', async () => {
      const root = random32();
      await expectRevert(anchor().connect(stranger).anchor(root, 1, T0, T1, ''), iface(), 'NotAnchoringGateway', [stranger.address]);
      await expectRevert(anchor().connect(idleGateway).anchor(root, 1, T0, T1, ''), iface(), 'NotAnchoringGateway', [
        idleGateway.address,
      ]);
      await send(f.c.registry.ban(gateway.address, 'forged batches'));
      await expectRevert(anchor().connect(gateway).anchor(root, 1, T0, T1, ''), iface(), 'NotAnchoringGateway', [gateway.address]);
      await send(f.c.registry.unban(gateway.address));
      await send(anchor().connect(gateway).anchor(root, 1, T0, T1, ''));
    });

    it('front-running: another gateway recording the same root first neither blocks nor takes the owner\'s record', async () => {
      const victim = buildBatchTree(Array.from({ length: 5 }, () => random32()));
      // gateway2 copies gateway's root out of the mempool and gets it mined first.
      await send(anchor().connect(gateway2).anchor(victim.root, 5, T0, T1, 'stolen'));
      assert.equal(await anchor().isRecorded(gateway.address, victim.root), false, 'the copy is not filed under the owner');
      const receipt = await send(anchor().connect(gateway).anchor(victim.root, 5, T0, T1, DEFAULT_ANCHOR_URI));
      assert.equal(receipt.status, 1, 'the owner\'s own transaction still goes through');
      assert.equal((await anchor().rootRecord(gateway.address, victim.root)).submitter, gateway.address);
      const id = victim.values[0]!;
      assert.equal(await anchor().verifyBatch(gateway.address, victim.root, id, victim.proof(id)), true);
    });

    it('anchor reverts: duplicate root from the same gateway, zero root, empty, inverted range, uri too long', async () => {
      await expectRevert(anchor().connect(gateway).anchor(tree.root, 50, T0, T1, ''), iface(), 'DuplicateRoot', [gateway.address, tree.root]);
      await expectRevert(anchor().connect(gateway).anchor(ZeroHash, 1, T0, T1, ''), iface(), 'ZeroRoot');
      await expectRevert(anchor().connect(gateway).anchor(random32(), 0, T0, T1, ''), iface(), 'EmptyRoot');
      await expectRevert(anchor().connect(gateway).anchor(random32(), 1, T1, T0, ''), iface(), 'InvalidTimeRange', [BigInt(T1), BigInt(T0)]);
      const max = Number(await anchor().MAX_URI_BYTES());
      await expectRevert(anchor().connect(gateway).anchor(random32(), 1, T0, T1, 'u'.repeat(max + 1)), iface(), 'UriTooLong', [
        BigInt(max + 1),
      ]);
    });

    it('gas: under 60,000 whatever the number of batches (1 and 75,000), even with the longest uri', async () => {
      const big = buildBatchTree(Array.from({ length: 75_000 }, () => randomBytes(32)));
      const small = buildBatchTree([randomBytes(32)]);
      const max = Number(await anchor().MAX_URI_BYTES());
      const gas: Record<string, bigint> = {};
      const a = anchor().connect(gateway);
      gas.big = (await send(a.anchor(big.root, big.count, T0, T1, DEFAULT_ANCHOR_URI))).gasUsed;
      gas.small = (await send(a.anchor(small.root, small.count, T0, T1, DEFAULT_ANCHOR_URI))).gasUsed;
      gas.maxCount = (await send(a.anchor(random32(), 2 ** 32 - 1, T0, T1, DEFAULT_ANCHOR_URI))).gasUsed;
      gas.longUri = (await send(a.anchor(random32(), 75_000, T0, T1, 'u'.repeat(max)))).gasUsed;
      for (const [k, g] of Object.entries(gas)) assert.ok(g < 60_000n, `${k}: ${g} gas`);
      // count only changes a few calldata bytes
      assert.ok(gas.big! - gas.small! < 100n, `big ${gas.big} vs small ${gas.small}`);
      const id = [...big.values][12_345]!;
      assert.equal(await anchor().verifyBatch(gateway.address, big.root, id, big.proof(id)), true);
    });
  });

  describe('AuditLog', () => {
    const entries = Array.from({ length: 33 }, () => random32());
    const tree = buildAccessLogTree(entries);
    const log = () => f.c.auditLog;

    it('anchorAccessLog by the auditor: event, record, entries verify', async () => {
      const receipt = await send(log().connect(auditor).anchorAccessLog(tree.root, tree.count, T0, T1, 'ingest://access-log/1'));
      assert.deepEqual(oneEvent(receipt, log().interface, 'AccessLogAnchored'), [
        tree.root,
        auditor.address,
        33n,
        BigInt(T0),
        BigInt(T1),
        'ingest://access-log/1',
      ]);
      assert.equal((await log().rootRecord(auditor.address, tree.root)).submitter, auditor.address);
      for (const e of entries.slice(0, 5)) assert.equal(await log().verifyEntry(auditor.address, tree.root, e, tree.proof(e)), true);
      assert.equal(await log().verifyEntry(auditor.address, tree.root, random32(), tree.proof(entries[0]!)), false);
      assert.ok(receipt.gasUsed < 60_000n);
    });

    it('anchorAccessLog reverts: not an auditor (a gateway neither), duplicate root, zero root', async () => {
      const li = log().interface;
      await expectRevert(log().connect(stranger).anchorAccessLog(random32(), 1, T0, T1, ''), li, 'NotAuditor', [stranger.address]);
      await expectRevert(log().connect(gateway).anchorAccessLog(random32(), 1, T0, T1, ''), li, 'NotAuditor', [gateway.address]);
      await expectRevert(log().connect(auditor).anchorAccessLog(tree.root, 1, T0, T1, ''), li, 'DuplicateRoot');
      await expectRevert(log().connect(auditor).anchorAccessLog(ZeroHash, 1, T0, T1, ''), li, 'ZeroRoot');
    });

    it('a second auditor account works once granted AUDITOR_ROLE', async () => {
      const r = f.c.registry;
      await send(r.grantRole(await r.AUDITOR_ROLE(), stranger.address));
      await send(log().connect(stranger).anchorAccessLog(random32(), 1, T0, T1, ''));
      await send(r.revokeRole(await r.AUDITOR_ROLE(), stranger.address));
      await expectRevert(log().connect(stranger).anchorAccessLog(random32(), 1, T0, T1, ''), log().interface, 'NotAuditor');
    });
  });
});
