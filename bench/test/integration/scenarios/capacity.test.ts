import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Child } from '../../../src/harness/child.js';
import { runCapacityStep } from '../../../src/scenarios/capacity.js';

describe('bench', () => {
  describe('capacity step (integration: vitalgate broker + gateway processes)', function () {
    this.timeout(120_000);
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'bench-capacity-test-'));
    });
    after(async () => {
      await Child.stopAll(5000);
      await rm(dir, { recursive: true, force: true });
    });

    it('20 paced devices × 3 s: every acknowledged reading sealed once, and the figures are there', async () => {
      const passphrase = randomBytes(24).toString('hex');
      const passphraseFile = join(dir, 'passphrase');
      await writeFile(passphraseFile, passphrase + '\n', { mode: 0o600 });
      const cleanups: Array<() => Promise<void>> = [];
      const s = await runCapacityStep({
        mode: 'ours', devices: 20, seconds: 3, window: 64, dir: join(dir, 'step'), passphrase, passphraseFile, label: 'test',
        log: () => undefined, onCleanup: (f) => void cleanups.push(f),
      });
      for (const f of cleanups) await f();
      assert.equal(s.error, null);
      assert.ok(s.acked > 20 * 3 * 10, `${s.acked} acknowledged`);
      assert.deepEqual([s.lost, s.duplicates, s.invented, s.failed, s.unreadableBatches, s.disconnects], [0, 0, 0, 0, 0, 0]);
      assert.equal(s.found, s.acked);
      assert.equal(s.published, s.acked);
      // 20 devices × 14.1 readings/s, less the staggered starts (up to 1 s of 3).
      assert.ok(s.offeredPerSec > 180 && s.offeredPerSec <= 282, `offered ${s.offeredPerSec}/s`);
      assert.ok(s.deliveredPerSec > 200, `delivered ${s.deliveredPerSec}/s`);
      for (const v of [s.latencyMs.p50, s.latencyMs.p99, s.latencyMs.max, s.pubackRttMs.p50, s.pubackRttMs.p99, s.publishLagMs.p99]) assert.equal(typeof v, 'number');
      assert.ok(s.latencyMs.p50! <= s.latencyMs.p99! && s.latencyMs.p99! <= s.latencyMs.max!);
      assert.ok(s.latencyMs.max! < 30_000, `max latency ${s.latencyMs.max} ms`);
      assert.ok(s.pubackRttMs.p99! < 5000);
      assert.ok(s.cpuPercent.loadGenerator > 0 && s.cpuPercent.loadGenerator < 200);
      assert.ok(s.cpuPercent.broker !== null && s.cpuPercent.gateway !== null);
      assert.ok(s.brokerPeakRssMb! > 10 && s.gatewayPeakRssMb! > 10);
      assert.equal(s.brokerRssIsGatewayProcess, false);
      assert.equal(s.gatewayExitCode, 0);
      const st = s.stages;
      assert.equal(typeof st.publishToDurable.mean, 'number');
      assert.equal(st.durableToUploaded, null);
      // A gateway that prints its stages line: the means must add up and be sane; an older one: null.
      if (st.receiveToDurable) {
        assert.ok(st.receiveToDurable.mean! > 0 && st.receiveToDurable.mean! <= st.publishToDurable.mean! + 1);
        assert.equal(typeof st.publishToReceiveMean, 'number');
      } else assert.equal(st.publishToReceiveMean, null);
    });

    it('in-process (the gateway hosting the broker): nothing lost, PUBACK once durable, the gateway reports its stage', async () => {
      const passphrase = randomBytes(24).toString('hex');
      const passphraseFile = join(dir, 'passphrase-in-process');
      await writeFile(passphraseFile, passphrase + '\n', { mode: 0o600 });
      const cleanups: Array<() => Promise<void>> = [];
      const s = await runCapacityStep({
        mode: 'in-process', devices: 20, seconds: 3, window: 64, dir: join(dir, 'step-in-process'), passphrase, passphraseFile, label: 'test',
        log: () => undefined, onCleanup: (f) => void cleanups.push(f),
      });
      for (const f of cleanups) await f();
      assert.equal(s.error, null);
      assert.ok(s.acked > 20 * 3 * 10, `${s.acked} acknowledged`);
      assert.deepEqual([s.lost, s.duplicates, s.invented, s.failed], [0, 0, 0, 0]);
      assert.equal(s.brokerRssIsGatewayProcess, true);
      assert.equal(s.brokerPeakRssMb, s.gatewayPeakRssMb);
      assert.equal(s.cpuPercent.broker, null);
      // A PUBACK only once durable: never before the batch, so it takes a good part of the window.
      assert.ok(s.pubackRttMs.p50! > 200, `PUBACK p50 ${s.pubackRttMs.p50} ms`);
      assert.ok(s.stages.receiveToDurable, 'the gateway printed its stages line');
      assert.ok(s.stages.receiveToDurable.readings! >= s.acked);
      assert.equal(typeof s.stages.publishToReceiveMean, 'number');
    });
  });
});
