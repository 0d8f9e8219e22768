import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LatencyHistogram } from '../src/index.js';

describe('LatencyHistogram', () => {
  it('gives nearest-rank percentiles equal to sorting the (rounded) samples', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 5000 }), { minLength: 1, maxLength: 300 }), fc.integer({ min: 1, max: 100 }), (xs, p) => {
      const h = new LatencyHistogram(10_000);
      for (const x of xs) h.add(x);
      const sorted = [...xs].sort((a, b) => a - b);
      assert.equal(h.percentile(p), sorted[Math.ceil((p / 100) * xs.length) - 1]);
      assert.equal(h.count, xs.length);
      assert.equal(h.max, sorted[sorted.length - 1]);
    }));
  });

  it('keeps the exact mean of unrounded samples, clamps negatives to 0 and overflows into the limit', () => {
    const h = new LatencyHistogram(100);
    h.add(0.4);
    h.add(1.6);
    h.add(-5);
    h.add(250);
    assert.equal(h.mean(), (0.4 + 1.6 + 0 + 250) / 4);
    assert.equal(h.percentile(100), 100);
    assert.equal(h.percentile(25), 0);
    assert.deepEqual(h.summary(), { count: 4, mean: 63, p50: 0, p99: 100, max: 250 });
  });

  it('reports nothing rather than zero when empty', () => {
    assert.deepEqual(new LatencyHistogram(10).summary(), { count: 0, mean: null, p50: null, p99: null, max: null });
  });
});
