/**
 * A gateway's logs torn by a crash: the last line of the index, the epoch log and the anchor log is
 * cut at every byte offset, the gateway is restarted on the result, and then
 *   - only the torn record is lost (a torn index record's batch is adopted again from its pack);
 *   - no epoch number is used for two spans of time (so no data key covers both);
 *   - `verify` still proves every batch against a real anvil chain.
 */
import assert from 'node:assert/strict';
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import pino from 'pino';
import { ANVIL_DEV_KEYS, createProvider, deployOrLoad, startAnvil, type AnvilNode } from '@vitalgate/contracts';
import { BatchIndex, EpochClock, Gateway, readAnchors, verifyStore } from '../../src/index.js';
import { TEST_SCRYPT, tempDir } from '../helpers.js';

const PASS = 'torn logs test passphrase';
const quiet = pino({ level: 'silent' });

describe('torn logs: the last line of each log cut at every byte offset', function () {
  this.timeout(600_000);
  let node: AnvilNode;
  let t: { dir: string; cleanup: () => Promise<void> };
  let deploymentFile: string;
  let golden: string;
  let goldenIds: string[];

  before(async () => {
    t = await tempDir('vg-torn-');
    node = await startAnvil();
    deploymentFile = join(t.dir, 'deployment.json');
    await deployOrLoad(new Wallet(ANVIL_DEV_KEYS[0]!, createProvider(node.url)), deploymentFile);
    golden = join(t.dir, 'golden');
    const chain = { url: node.url, deploymentFile, adminKey: ANVIL_DEV_KEYS[0]!, anchorPeriodMs: 200 };
    const gw = await Gateway.start({ dataDir: golden, passphrase: PASS, scrypt: TEST_SCRYPT, logger: quiet, batchWindowMs: 40, chain });
    let seq = 0;
    const feed = async (ms: number) => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        for (const p of ['p1', 'p2']) gw.acceptReading(p, 'dev', 'hr', { seq: seq++, ts: Date.now(), values: { hr: 60 + (seq % 30) } });
        await new Promise((r) => setTimeout(r, 15));
      }
    };
    await feed(450);
    await gw.epochs.rotate(); // the last epoch record then has batches sealed under it
    await feed(450);
    await gw.stop();
    goldenIds = (await BatchIndex.load(join(golden, 'index.jsonl'))).map((r) => r.id);
    const report = await verifyStore(golden, { url: node.url, deploymentFile });
    assert.equal(report.failed, 0);
    assert.equal(report.verified, goldenIds.length, 'every batch anchored before the cuts');
  });
  after(async () => {
    await node?.stop();
    await t?.cleanup();
  });

  /** Copies the golden directory, cuts `file`'s last line at each offset, restarts, checks. */
  async function eachCut(file: string, check: (dir: string, cut: number, whole: boolean) => Promise<void>): Promise<number> {
    const full = await readFile(join(golden, file));
    const lastStart = full.lastIndexOf(0x0a, full.length - 2) + 1;
    const work = join(t.dir, 'work');
    let cuts = 0;
    for (let cut = lastStart; cut < full.length; cut++) {
      await rm(work, { recursive: true, force: true });
      await cp(golden, work, { recursive: true });
      await writeFile(join(work, file), full.subarray(0, cut));
      // Restarted without the chain: the repair must not depend on it.
      const gw = await Gateway.start({ dataDir: work, passphrase: PASS, scrypt: TEST_SCRYPT, logger: quiet, batchWindowMs: 40 });
      await gw.stop();
      await check(work, cut, cut === full.length - 1);
      cuts++;
    }
    return cuts;
  }

  async function assertVerifies(dir: string, cut: number): Promise<void> {
    const r = await verifyStore(dir, { url: node.url, deploymentFile });
    assert.deepEqual({ failed: r.failed, unanchored: r.unanchored, onChainOnly: r.onChainOnly.length }, { failed: 0, unanchored: 0, onChainOnly: 0 }, `cut at ${cut}: ${JSON.stringify(r.failures.slice(0, 2))}`);
    assert.equal(r.verified, goldenIds.length, `cut at ${cut}`);
  }

  it('index: the torn record\'s batch is adopted again from its pack, every batch once, verify passes', async () => {
    const cuts = await eachCut('index.jsonl', async (dir, cut) => {
      const ids = (await BatchIndex.load(join(dir, 'index.jsonl'))).map((r) => r.id);
      assert.deepEqual([...ids].sort(), [...goldenIds].sort(), `cut at ${cut}: every batch indexed exactly once`);
      await assertVerifies(dir, cut);
    });
    assert.ok(cuts > 100, `${cuts} offsets`);
  });

  it('epochs: the restarted gateway never reuses an epoch number, even when the log lost the newest one', async () => {
    const batchEpochs = (await BatchIndex.load(join(golden, 'index.jsonl'))).map((r) => r.epoch);
    const maxUsed = Math.max(...batchEpochs);
    await eachCut('epochs.jsonl', async (dir, cut, whole) => {
      const log = await EpochClock.readLog(join(dir, 'epochs.jsonl'));
      const numbers = log.map((e) => e.epoch);
      for (let i = 1; i < numbers.length; i++) assert.ok(numbers[i]! > numbers[i - 1]!, `cut at ${cut}: epoch numbers strictly increase: ${numbers.join(',')}`);
      const restartedAt = log.at(-1)!;
      assert.equal(restartedAt.reason, 'start');
      assert.ok(restartedAt.epoch > maxUsed, `cut at ${cut}: restarted in epoch ${restartedAt.epoch}, batches already sealed under ${maxUsed}`);
      if (!whole) assert.equal(log.length, (await EpochClock.readLog(join(golden, 'epochs.jsonl'))).length, `cut at ${cut}: one record lost, one added`);
      await assertVerifies(dir, cut);
    });
  });

  it('anchors: a torn "anchored" record leaves its root pending; verify finds it on chain, and the anchorer records it again', async () => {
    const goldenAnchors = await readAnchors(join(golden, 'anchors.jsonl'));
    const last = goldenAnchors.at(-1)!;
    await eachCut('anchors.jsonl', async (dir, cut, whole) => {
      const anchors = await readAnchors(join(dir, 'anchors.jsonl'));
      assert.equal(anchors.length, goldenAnchors.length, `cut at ${cut}: the root is still known (its pending record is whole)`);
      assert.equal(anchors.at(-1)!.mined !== undefined, whole, `cut at ${cut}`);
      await assertVerifies(dir, cut);
    });
    // With the chain back, the anchorer resolves the pending root from this gateway's own event.
    const work = join(t.dir, 'work');
    await rm(work, { recursive: true, force: true });
    await cp(golden, work, { recursive: true });
    const full = await readFile(join(golden, 'anchors.jsonl'));
    await writeFile(join(work, 'anchors.jsonl'), full.subarray(0, full.lastIndexOf(0x0a, full.length - 2) + 1 + 9));
    const gw = await Gateway.start({
      dataDir: work, passphrase: PASS, scrypt: TEST_SCRYPT, logger: quiet, batchWindowMs: 40,
      chain: { url: node.url, deploymentFile, anchorPeriodMs: 60_000 },
    });
    await gw.stop();
    const again = await readAnchors(join(work, 'anchors.jsonl'));
    assert.equal(again.at(-1)!.root, last.root);
    assert.equal(again.at(-1)!.mined?.txHash, last.mined!.txHash, 'the same transaction, not a second anchor');
  });
});
