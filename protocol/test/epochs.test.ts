import assert from 'node:assert/strict';
import { advanceEpoch, DEFAULT_EPOCH_PERIOD_MS, nextBoundary, type EpochRecord } from '../src/index.js';

describe('epochs', () => {
  const P = DEFAULT_EPOCH_PERIOD_MS;
  const start: EpochRecord = { epoch: 4, startedAt: 10 * P + 1234, reason: 'start' };

  it('keeps the epoch until the next period boundary', () => {
    assert.equal(nextBoundary(start.startedAt, P), 11 * P);
    assert.equal(advanceEpoch(start, 11 * P - 1, P), start);
  });
  it('rotates exactly at the boundary', () => {
    const next = advanceEpoch(start, 11 * P, P);
    assert.deepEqual(next, { epoch: 5, startedAt: 11 * P, reason: 'timer' });
    assert.equal(advanceEpoch(next, 12 * P - 1, P), next);
    assert.equal(advanceEpoch(next, 12 * P, P).epoch, 6);
  });
  it('advances by one step after idle periods, starting at the latest boundary', () => {
    assert.deepEqual(advanceEpoch(start, 15 * P + 5, P), { epoch: 5, startedAt: 15 * P, reason: 'timer' });
  });
  it('after an on-demand rotation mid-period, still rotates at the next boundary', () => {
    const demand: EpochRecord = { epoch: 9, startedAt: 11 * P + 500, reason: 'demand' };
    assert.equal(advanceEpoch(demand, 12 * P - 1, P).epoch, 9);
    assert.equal(advanceEpoch(demand, 12 * P, P).epoch, 10);
  });
  it('refuses a non-positive period', () => {
    assert.throws(() => nextBoundary(0, 0), /positive/);
  });
});
