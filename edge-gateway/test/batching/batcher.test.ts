import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Batcher, type PendingBatch } from '../../src/batching/batcher.js';

type Op =
  | { op: 'add'; patient: number; stream: 'hr' | 'spo2'; dt: number }
  | { op: 'take'; dt: number; all: boolean }
  | { op: 'fail' };

/** Every reading still pending, by the intake numbers the batcher was given. */
function pendingIntakes(open: Map<number, number>): number {
  let m = Infinity;
  for (const v of open.values()) m = Math.min(m, v);
  return m;
}

describe('batcher', () => {
  it('minIntake is the smallest intake number of any pending reading, through adds, due batches, size limits and failed seals', () => {
    fc.assert(fc.property(fc.array(fc.oneof(
      fc.record({ op: fc.constant('add' as const), patient: fc.integer({ min: 0, max: 4 }), stream: fc.constantFrom('hr' as const, 'spo2' as const), dt: fc.integer({ min: 0, max: 300 }) }),
      fc.record({ op: fc.constant('take' as const), dt: fc.integer({ min: 0, max: 1500 }), all: fc.boolean() }),
      fc.record({ op: fc.constant('fail' as const) }),
    ), { maxLength: 200 }), (ops: Op[]) => {
      const b = new Batcher({ windowMs: 1000, maxSamples: 3 });
      // The model: each reading's intake number, while it is pending.
      const pending = new Map<number, number>();
      let intake = 0;
      let now = 0;
      let lastTaken: PendingBatch[] = [];
      const firstOf = new Map<PendingBatch, number[]>();
      for (const o of ops) {
        if (o.op === 'add') {
          now += o.dt;
          const n = intake++;
          b.add(`p${o.patient}`, 'd', o.stream, { seq: n, ts: now, values: { [o.stream]: 1 } }, now, n);
          pending.set(n, n);
        } else if (o.op === 'take') {
          now += o.dt;
          lastTaken = b.take(now, o.all);
          for (const t of lastTaken) {
            const ns = t.bodies.map((x) => x.seq);
            firstOf.set(t, ns);
            for (const n of ns) pending.delete(n);
          }
        } else {
          // The seal failed: the batches go back, and their readings are pending again.
          b.restore(lastTaken);
          for (const t of lastTaken) for (const n of firstOf.get(t)!) pending.set(n, n);
          lastTaken = [];
        }
        const expected = pending.size ? pendingIntakes(pending) : intake;
        assert.equal(b.minIntake(intake), expected);
        assert.equal(b.pendingReadings, pending.size);
      }
    }), { numRuns: 300 });
  });
});
