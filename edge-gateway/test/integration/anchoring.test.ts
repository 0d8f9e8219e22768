/**
 * Anchoring on a real anvil node, including an outage: anvil is stopped mid-run and started again
 * on the same port with its saved state. Every batch must end up anchored exactly once.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import { ANVIL_DEV_KEYS, createProvider, deployOrLoad, startAnvil, type AnvilNode } from '@vitalgate/contracts';
import { BatchIndex, Gateway, readAnchors, verifyStore } from '../../src/index.js';
import { memoryLogger, TEST_SCRYPT, tempDir } from '../helpers.js';

const PASS = 'anchoring test passphrase';

describe('anchoring on anvil', function () {
  this.timeout(120_000);

  it('anchors every batch exactly once across a chain outage, and verify proves them all', async () => {
    const t = await tempDir();
    const { logger, lines } = memoryLogger();
    const statePath = join(t.dir, 'anvil-state.json');
    let node: AnvilNode | undefined = await startAnvil({ statePath });
    const port = node.port;
    try {
      const deploymentFile = join(t.dir, 'deployment.json');
      await deployOrLoad(new Wallet(ANVIL_DEV_KEYS[0]!, createProvider(node.url)), deploymentFile);
      const chain = { url: node.url, deploymentFile, adminKey: ANVIL_DEV_KEYS[0]!, anchorPeriodMs: 300 };
      const gw = await Gateway.start({ dataDir: join(t.dir, 'gw'), passphrase: PASS, scrypt: TEST_SCRYPT, logger, batchWindowMs: 50, chain });
      let seq = 0;
      const feed = async (ms: number) => {
        const end = Date.now() + ms;
        while (Date.now() < end) {
          for (const p of ['p1', 'p2']) gw.acceptReading(p, 'dev', 'hr', { seq: seq++, ts: Date.now(), values: { hr: 60 + (seq % 30) } });
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      await feed(1500);
      assert.ok((gw.metrics().anchoring?.anchors ?? 0) >= 1, 'anchored before the outage');
      await node.stop(); // the chain goes away …
      node = undefined;
      await feed(2000);
      const during = gw.metrics().anchoring!;
      assert.ok(during.unanchoredBatches > 0, 'batches wait while the chain is down');
      assert.match(during.lastError ?? '', /./, 'the failure is reported');
      node = await startAnvil({ statePath, port }); // … and comes back with its state
      await feed(1500);
      await gw.stop();
      const m = gw.metrics();
      assert.equal(m.anchoring!.unanchoredBatches, 0);
      assert.ok(lines.some((l) => l.msg === 'anchoring failed; batches stay queued'));

      const records = await BatchIndex.load(join(t.dir, 'gw', 'index.jsonl'));
      const anchored = (await readAnchors(join(t.dir, 'gw', 'anchors.jsonl'))).filter((a) => a.mined);
      // Each batch is named by exactly one mined root, and every root names only indexed batches.
      const under = new Map<string, number>();
      for (const a of anchored) for (const id of a.ids) under.set(id, (under.get(id) ?? 0) + 1);
      assert.deepEqual(records.filter((r) => under.get(r.id) !== 1).map((r) => r.id), []);
      assert.equal(under.size, records.length);
      assert.equal(new Set(anchored.map((a) => a.root)).size, anchored.length);
      const report = await verifyStore(join(t.dir, 'gw'), { url: node.url, deploymentFile });
      assert.equal(report.failed, 0, JSON.stringify(report.failures.slice(0, 3)));
      assert.equal(report.unanchored, 0);
      assert.equal(report.verified, records.length);
      assert.ok(report.anchors.every((a) => a.ok && a.blockTimestamp > 0));
    } finally {
      await node?.stop();
      await t.cleanup();
    }
  });
});
