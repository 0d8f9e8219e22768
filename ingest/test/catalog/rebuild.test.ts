/**
 * rebuildCatalog: from real sealed batches and an anchor record in local object storage into the
 * embedded catalog. Every batch is cataloged once (also after a second run), the anchor lands on
 * its rows, and objects that are not what their keys say are reported, never cataloged.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import { buildBatchTree } from '@vitalgate/contracts';
import { batchId, encodeCloudRecord, sealBatch, type AnchorUploadRecord } from '@vitalgate/protocol';
import { EmbeddedCatalog, LocalObjectStore, anchorKey, batchKey, rebuildCatalog, type Catalog } from '../../src/index.js';

describe('rebuildCatalog: from object storage into a catalog', () => {
  let dir: string;
  let store: LocalObjectStore;
  let catalog: Catalog;
  const key = randomBytes(32);
  const gateway = Wallet.createRandom().address;
  const patients = [Wallet.createRandom().address, Wallet.createRandom().address];
  const T0 = 1_790_000_000_000;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vg-rebuild-'));
    store = new LocalObjectStore(join(dir, 'cloud'));
    catalog = await EmbeddedCatalog.open(join(dir, 'catalog'));
  });
  after(async () => {
    await catalog.close();
    await rm(dir, { recursive: true, force: true });
  });

  const all = async (patientId: string): Promise<Array<{ id: string; count: number; root?: string }>> => {
    const out: Array<{ id: string; count: number; root?: string }> = [];
    let after: string | undefined;
    for (;;) {
      const page = await catalog.batches({ patientId, from: 0, to: Number.MAX_SAFE_INTEGER, limit: 7, ...(after && { after }) });
      out.push(...page.entries.map((e) => ({ id: e.id, count: e.count, ...(e.anchor && { root: e.anchor.root }) })));
      if (!page.next) return out;
      after = page.next;
    }
  };

  it('catalogs every stored batch once, merges anchors, and skips (naming) what is not what its key says', async () => {
    const sealed = new Map<string, Array<{ id: string; count: number }>>();
    const anchored: AnchorUploadRecord['batches'] = [];
    for (const [p, account] of patients.entries()) {
      const mine: Array<{ id: string; count: number }> = [];
      for (let seq = 0; seq < 20; seq++) {
        const bodies = Array.from({ length: 1 + (seq % 4) }, (_, i) => ({ seq: seq * 10 + i, ts: T0 + seq * 1000 + i, values: { hr: 60 + i } }));
        const b = sealBatch(key, { stream: 'hr', patientId: `patient-${p}`, deviceId: `hr-${p}`, epoch: 1, seq, bodies });
        assert.equal(await store.put(batchKey(account, b.id), b.bytes), true);
        mine.push({ id: b.id, count: bodies.length });
        if (seq < 5) anchored.push({ id: b.id, patientAccount: account, stream: 'hr', firstTs: b.header.firstTs });
      }
      sealed.set(account, mine);
    }
    const root = buildBatchTree(anchored.map((b) => b.id)).root;
    const record: AnchorUploadRecord = { v: 1, gateway, root, txHash: `0x${'ab'.repeat(32)}`, blockNumber: 7, blockTimestamp: Math.floor(T0 / 1000), batches: anchored };
    await store.put(anchorKey(gateway, root), encodeCloudRecord(record));
    await store.put(`records/${gateway}/epochs/0000000001`, encodeCloudRecord({ v: 1, gateway, epoch: 1, startedAt: T0, reason: 'start' }));

    // Three objects that are not what their keys claim.
    const victim = sealBatch(key, { stream: 'hr', patientId: 'patient-0', deviceId: 'hr-0', epoch: 1, seq: 99, bodies: [{ seq: 990, ts: T0, values: { hr: 70 } }] });
    const altered = Uint8Array.from(victim.bytes);
    altered[altered.length - 3]! ^= 1;
    await store.put(batchKey(patients[0]!, victim.id), altered);
    const junk = randomBytes(100);
    const junkId = batchId(junk);
    await store.put(batchKey(patients[1]!, junkId), junk);
    await store.put('batches/not-an-account/x', randomBytes(10));

    const progress: number[] = [];
    for (let run = 0; run < 2; run++) {
      const r = await rebuildCatalog(store, catalog, (p) => progress.push(p.batches));
      assert.equal(r.batches, 40);
      assert.equal(r.anchors, 1);
      assert.equal(r.skippedCount, 3);
      assert.deepEqual(r.skipped.map((s) => s.key).sort(), [batchKey(patients[0]!, victim.id), batchKey(patients[1]!, junkId), 'batches/not-an-account/x'].sort());
      assert.match(r.skipped.find((s) => s.key.endsWith(victim.id))!.reason, /does not hash to its id/);
      assert.match(r.skipped.find((s) => s.key.endsWith(junkId))!.reason, /not a sealed batch/);
    }
    assert.ok(progress.length >= 2, 'progress reported');

    for (const account of patients) {
      const got = await all(account);
      const want = sealed.get(account)!;
      assert.deepEqual(got.map((g) => g.id).sort(), want.map((w) => w.id).sort(), 'each stored batch exactly once, none invented');
      for (const g of got) assert.equal(g.count, want.find((w) => w.id === g.id)!.count);
      const withRoot = got.filter((g) => g.root === root).map((g) => g.id).sort();
      assert.deepEqual(withRoot, anchored.filter((a) => a.patientAccount === account).map((a) => a.id).sort(), 'the anchor is on exactly the batches it covers');
    }
  });

  it('an anchor record whose root is not its key is skipped', async () => {
    const other = `0x${'cd'.repeat(32)}`;
    const record: AnchorUploadRecord = { v: 1, gateway, root: `0x${'ef'.repeat(32)}`, txHash: `0x${'ab'.repeat(32)}`, blockNumber: 8, blockTimestamp: 1, batches: [] };
    await writeFile(join(dir, 'cloud', 'records', gateway, 'anchors', other), encodeCloudRecord(record));
    const r = await rebuildCatalog(store, catalog);
    assert.ok(r.skipped.some((s) => s.key === anchorKey(gateway, other) && /not an anchor record|not the one in its key/.test(s.reason)), JSON.stringify(r.skipped));
  });
});
