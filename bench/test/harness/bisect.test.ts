import assert from 'node:assert/strict';
import { growthSteps, resolutionFor, searchCapacity } from '../../src/harness/bisect.js';

/** An oracle that passes up to `capacity` devices and records what it was asked. */
function oracle(capacity: number) {
  const asked: number[] = [];
  return { asked, pass: async (n: number) => (asked.push(n), n <= capacity) };
}

describe('bench', () => {
  describe('capacity search', () => {
    it('grows by doubling from min, capped at max', () => {
      assert.deepEqual(growthSteps(250, 4000), [250, 500, 1000, 2000, 4000]);
      assert.deepEqual(growthSteps(250, 3000), [250, 500, 1000, 2000, 3000]);
      assert.deepEqual(growthSteps(500, 500), [500]);
    });
    it('resolution: 10 % of the lower bound, at least 100, unless fixed', () => {
      assert.equal(resolutionFor(500), 100);
      assert.equal(resolutionFor(2000), 200);
      assert.equal(resolutionFor(2000, 50), 50);
    });
    for (const capacity of [260, 499, 730, 1000, 1337, 1999, 2600, 3999]) {
      it(`finds a capacity of ${capacity} within the resolution`, async () => {
        const o = oracle(capacity);
        const r = await searchCapacity({ min: 250, max: 4000 }, o.pass);
        assert.ok(r.passedAt !== null && r.failedAt !== null);
        assert.ok(r.passedAt <= capacity && capacity < r.failedAt, `${r.passedAt} <= ${capacity} < ${r.failedAt}`);
        assert.ok(r.failedAt - r.passedAt <= resolutionFor(r.passedAt), `bracket ${r.passedAt}..${r.failedAt}`);
        // It grew first: the doubling steps up to the first failure, in order.
        const growth = growthSteps(250, 4000);
        const firstFail = growth.find((n) => n > capacity)!;
        assert.deepEqual(o.asked.slice(0, growth.indexOf(firstFail) + 1), growth.slice(0, growth.indexOf(firstFail) + 1));
        assert.deepEqual(r.tried.map((t) => t.devices), o.asked);
        assert.equal(new Set(o.asked).size, o.asked.length, 'never asks the same N twice');
      });
    }
    it('honours a fixed resolution', async () => {
      const o = oracle(1234);
      const r = await searchCapacity({ min: 250, max: 4000, resolution: 20 }, o.pass);
      assert.ok(r.failedAt! - r.passedAt! <= 20 && r.passedAt! <= 1234 && 1234 < r.failedAt!);
    });
    it('all pass: the maximum, no failure', async () => {
      const o = oracle(Infinity);
      const r = await searchCapacity({ min: 250, max: 4000 }, o.pass);
      assert.deepEqual([r.passedAt, r.failedAt], [4000, null]);
      assert.deepEqual(o.asked, [250, 500, 1000, 2000, 4000]);
    });
    it('all fail: no capacity, min failed, nothing else tried', async () => {
      const o = oracle(0);
      const r = await searchCapacity({ min: 250, max: 4000 }, o.pass);
      assert.deepEqual([r.passedAt, r.failedAt], [null, 250]);
      assert.deepEqual(o.asked, [250]);
    });
    it('refuses bounds that make no sense', async () => {
      await assert.rejects(searchCapacity({ min: 500, max: 250 }, async () => true));
    });
  });
});
