import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SeqWindows, WINDOW } from '../src/seq-window.js';

describe('duplicate detection', () => {
  it('flags repeats, accepts out-of-order arrivals once', () => {
    const w = new SeqWindows();
    assert.equal(w.check('k', 5), 'new');
    assert.equal(w.check('k', 3), 'new');
    assert.equal(w.check('k', 5), 'duplicate');
    assert.equal(w.check('k', 3), 'duplicate');
    assert.equal(w.check('k', 4), 'new');
    assert.equal(w.check('other', 5), 'new');
  });

  it('treats a counter far below the window as a device restart, not as duplicates', () => {
    const w = new SeqWindows();
    w.check('k', 3 * WINDOW);
    assert.equal(w.check('k', 0), 'restart');
    assert.equal(w.check('k', 1), 'new');
    assert.equal(w.check('k', 0), 'duplicate');
  });

  it('matches a set-based reference on any sequence within the window (property)', () => {
    fc.assert(fc.property(fc.array(fc.nat(WINDOW - 1), { maxLength: 300 }), (seqs) => {
      const w = new SeqWindows();
      const seen = new Set<number>();
      for (const s of seqs) {
        assert.equal(w.check('k', s), seen.has(s) ? 'duplicate' : 'new');
        seen.add(s);
      }
    }));
  });

  it('forgets nothing inside the window as the counter advances (property)', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 200 }), (steps) => {
      const w = new SeqWindows();
      let s = 0;
      const recent: number[] = [];
      for (const d of steps) {
        s += d;
        assert.equal(w.check('k', s), 'new');
        recent.push(s);
      }
      for (const r of recent) if (r > s - WINDOW) assert.equal(w.check('k', r), 'duplicate');
    }));
  });
});
