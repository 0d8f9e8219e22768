import assert from 'node:assert/strict';
import { erroredStep, judge, parseStages, P99_BOUND_MS, type CapacityStep } from '../../src/scenarios/capacity.js';

function passing(): CapacityStep {
  const s = erroredStep('ours', 'search', 100, 10, 'x');
  return {
    ...s, error: null, acked: 1000, found: 1000, published: 1000,
    steadyLatencyMs: { fromSecond: 5, readings: 500, p50: 1000, p99: P99_BOUND_MS, max: 2600 },
    publishLagMs: { p50: 1, p99: 20, max: 40 },
  };
}

describe('bench', () => {
  describe('capacity step', () => {
    it('passes with nothing lost, steady p99 within the bound and devices keeping up', () => {
      const s = passing();
      judge(s);
      assert.equal(s.pass, true, s.reasons.join('; '));
    });
    for (const [what, change] of [
      ['a lost reading', { lost: 1 }],
      ['a duplicate', { duplicates: 1 }],
      ['an invented reading', { invented: 1 }],
      ['a failed publish', { failed: 1 }],
      ['steady p99 over the bound', { steadyLatencyMs: { fromSecond: 5, readings: 1, p50: 1, p99: P99_BOUND_MS + 1, max: 9999 } }],
      ['devices that fell behind', { unsent: 3 }],
      ['publish lag over 1 s', { publishLagMs: { p50: 1, p99: 1500, max: 2000 } }],
      ['nothing acknowledged', { acked: 0 }],
      ['a harness error', { error: 'gateway exited' }],
    ] as const) {
      it(`fails on ${what}, and says why`, () => {
        const s = { ...passing(), ...change } as CapacityStep;
        judge(s);
        assert.equal(s.pass, false);
        assert.ok(s.reasons.length > 0);
      });
    }
    it('reads the gateway\'s stages line, and null for a missing or malformed one', () => {
      assert.deepEqual(parseStages({ event: 'stages', readings: 10, receiveToDurableMs: { mean: 1000.5, p50: 990, p99: 1980, max: 2010 } }),
        { readings: 10, mean: 1000.5, p50: 990, p99: 1980, max: 2010 });
      assert.equal(parseStages(undefined), null);
      assert.equal(parseStages({ event: 'stages' }), null);
      assert.deepEqual(parseStages({ event: 'stages', receiveToDurableMs: { mean: 'x' } }), { readings: null, mean: null, p50: null, p99: null, max: null });
    });
  });
});
