import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SeqWindows, WINDOW } from '../../src/batching/seq-window.js';

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

  it('tells a restarted counter (later readings) from a replayed backlog (older readings), and keeps the window for the backlog', () => {
    const w = new SeqWindows();
    const T = 1_800_000_000_000;
    // Sealed before a gateway restart: up to 2W, each reading 10 ms after the last.
    for (let s = WINDOW; s <= 2 * WINDOW; s++) w.check('k', s, T + s * 10);
    // Live readings overtake a long backlog the broker replays: 3W arrives before W/2 does.
    assert.equal(w.check('k', 3 * WINDOW, T + 3 * WINDOW * 10), 'new');
    assert.equal(w.check('k', WINDOW / 2, T + (WINDOW / 2) * 10), 'late', 'an old reading, taken without forgetting the window');
    assert.equal(w.check('k', 3 * WINDOW, T + 3 * WINDOW * 10), 'duplicate', 'the window still knows what it sealed');
    assert.equal(w.check('k', 3 * WINDOW - 1, T + (3 * WINDOW - 1) * 10), 'new');
    // The device restarts its counter: low numbers, later times.
    assert.equal(w.check('k', 0, T + 4 * WINDOW * 10), 'restart');
    assert.equal(w.check('k', 0, T + 4 * WINDOW * 10), 'duplicate');
  });

  it('a counter that starts over inside the window (a device rebooted after a few readings) is a restart when its readings are later; a redelivery, with its own older time, stays a duplicate', () => {
    const w = new SeqWindows();
    const T = 1_800_000_000_000;
    for (let s = 0; s <= 150; s++) assert.equal(w.check('k', s, T + s * 100), 'new');
    assert.equal(w.check('k', 40, T + 40 * 100), 'duplicate', 'a redelivery');
    // Rebooted: numbers from 0 again, times after everything seen.
    assert.equal(w.check('k', 0, T + 60_000), 'restart');
    for (let s = 1; s <= 150; s++) assert.equal(w.check('k', s, T + 60_000 + s * 100), 'new', `seq ${s} after the reboot`);
    assert.equal(w.check('k', 75, T + 60_000 + 75 * 100), 'duplicate', 'a redelivery after the reboot');
    // Rebuilt from the index of a previous run (its newest reading T + 15 s): a new run's readings are kept.
    const r = new SeqWindows();
    r.rebuild([{ patientId: 'p', stream: 'hr', deviceId: 'd', lastTs: T + 15_000, readingSeqs: [[0, 150]] }]);
    assert.equal(r.check('p/hr/d', 0, T + 120_000), 'restart');
    assert.equal(r.check('p/hr/d', 1, T + 120_100), 'new');
    // A reading that filled a gap arrived in a later batch (its batch's last time is later): rebuilt,
    // that is not a restart, and the window still knows the earlier batch's readings.
    const g = new SeqWindows();
    g.rebuild([
      { patientId: 'p', stream: 'hr', deviceId: 'd', lastTs: T + 10_000, readingSeqs: [[0, 4], [6, 10]] },
      { patientId: 'p', stream: 'hr', deviceId: 'd', lastTs: T + 20_000, readingSeqs: [[5, 5], [11, 20]] },
    ]);
    for (const seq of [0, 3, 5, 10, 20]) assert.equal(g.check('p/hr/d', seq, T + seq * 1000), 'duplicate', `seq ${seq} redelivered after a gateway restart`);
    assert.equal(g.check('p/hr/d', 21, T + 21_000), 'new');
  });

  it('rebuilt from the index, knows the newest time, so a replayed backlog is late, not a restart', () => {
    const w = new SeqWindows();
    const T = 1_800_000_000_000;
    w.rebuild([{ patientId: 'p', stream: 'hr', deviceId: 'd', lastTs: T + 5000, readingSeqs: [[4 * WINDOW, 4 * WINDOW + 99]] }]);
    assert.equal(w.check('p/hr/d', 4 * WINDOW + 50, T + 4000), 'duplicate');
    assert.equal(w.check('p/hr/d', WINDOW, T + 1000), 'late');
    assert.equal(w.check('p/hr/d', 4 * WINDOW + 50, T + 4000), 'duplicate');
    assert.equal(w.check('p/hr/d', 0, T + 9000), 'restart');
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

  it('numbers skipped by a gap stay unseen, across byte boundaries and the ring\'s wrap (property)', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 1, max: 700 }), fc.nat(WINDOW - 1)), { minLength: 1, maxLength: 120 }), (moves) => {
      const w = new SeqWindows();
      const seen = new Set<number>();
      let max = -1;
      for (const [step, back] of moves) {
        max += step;
        assert.equal(w.check('k', max), 'new');
        seen.add(max);
        // A number inside the window, behind the newest: a duplicate exactly when it was seen.
        const probe = max - back;
        if (probe < 0) continue;
        assert.equal(w.check('k', probe), seen.has(probe) ? 'duplicate' : 'new', `probe ${probe} at max ${max}`);
        seen.add(probe);
      }
    }));
  });

  it('a gap clears what the ring held a lap before: with the window full, any jump leaves exactly the skipped numbers unseen (property)', () => {
    fc.assert(fc.property(fc.nat(WINDOW - 1), fc.integer({ min: 1, max: WINDOW - 1 }), (start, jump) => {
      const w = new SeqWindows();
      for (let s = start; s < start + WINDOW; s++) w.check('k', s);
      const top = start + WINDOW - 1 + jump;
      assert.equal(w.check('k', top), 'new');
      for (let s = top - WINDOW + 1; s < top; s++) {
        const wasSeen = s < start + WINDOW;
        assert.equal(w.check('k', s), wasSeen ? 'duplicate' : 'new', `seq ${s} after a jump of ${jump} from ${start + WINDOW - 1}`);
      }
    }), { numRuns: 60 });
  });
});
