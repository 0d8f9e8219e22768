import assert from 'node:assert/strict';
import { Histogram, Ledger } from '../../src/harness/ledger.js';

describe('bench', () => {
  describe('ledger', () => {
    it('gives nearest-rank percentiles', () => {
      const h = new Histogram(1000);
      for (let i = 1; i <= 100; i++) h.add(i);
      assert.equal(h.percentile(50), 50);
      assert.equal(h.percentile(99), 99);
      assert.equal(h.percentile(100), 100);
      assert.equal(new Histogram().percentile(50), null);
    });
    it('reconciles lost, duplicated and invented readings', () => {
      const l = new Ledger();
      const body = (seq: number) => ({ seq, ts: 1_700_000_000_000, rate: 250, samples: [1, 2, 3] });
      l.ack('d1', 'ecg', 0, 1000);
      l.ack('d1', 'ecg', 1, 1000);
      l.ack('d1', 'hr', 2, 1000);
      l.ack('d2', 'ecg', 0, 1000);
      l.fail('d2', 1);
      l.foundBatch('d1', 'ecg', [body(0), body(1), body(1)], 3000); // one duplicate
      l.foundBatch('d1', 'ecg', [body(2)], 3000); // seq 2 was hr: invented
      l.foundBatch('d3', 'ecg', [body(0)], 3000); // unknown device: invented
      l.foundBatch('d2', 'ecg', [body(1)], undefined); // its publish failed
      const r = l.reconcile();
      assert.equal(r.found, 2);
      assert.equal(r.duplicates, 1);
      assert.equal(r.invented, 2);
      assert.equal(r.foundAfterFailedPublish, 1);
      assert.equal(r.lost, 2); // d1 seq 2 (hr) and d2 seq 0
      assert.equal(r.samples, 6);
      assert.equal(l.latency.percentile(50), 2000);
    });
  });
});
