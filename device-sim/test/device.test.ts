import assert from 'node:assert/strict';
import { validateBody } from '@vitalgate/protocol';
import { getProfile, SimDevice } from '../src/index.js';

describe('simulated device (mixed profile)', () => {
  const start = Date.UTC(2026, 0, 1);
  const dev = new SimDevice('sim-1', 'patient-1', getProfile('mixed'), start, 42);
  const out = dev.due(start + 20_000);

  it('sends the mixed profile at its rates, with one sequence number per reading', () => {
    const count = (s: string) => out.filter((r) => r.stream === s).length;
    assert.equal(count('ecg'), 200); // 250 Hz in 25-sample frames
    assert.equal(count('ppg'), 40); // 64 Hz in 32-sample frames
    assert.equal(count('hr'), 21);
    assert.equal(count('spo2'), 21);
    assert.equal(count('temp'), 3);
    assert.deepEqual(out.map((r) => r.body.seq), out.map((_, i) => i));
    for (const r of out) assert.ok(validateBody(r.stream, structuredClone(r.body)).ok, `${r.stream} #${r.body.seq} invalid`);
  });

  it('reports heart rate and RR intervals that are the ECG\'s own beats', () => {
    const beats = dev.body.beats(start, start + 20_000);
    for (const r of out.filter((x) => x.stream === 'hr' && x.body.ts >= start + 6000)) {
      const b = r.body as unknown as { ts: number; values: { hr: number }; rr?: number[] };
      const upTo = beats.filter((t) => t <= b.ts);
      const rrAll = upTo.slice(1).map((t, i) => t - upTo[i]!);
      const last4 = rrAll.slice(-4);
      const expected = 60_000 / (last4.reduce((a, x) => a + x, 0) / last4.length);
      assert.ok(Math.abs(b.values.hr - expected) <= 0.05, `hr ${b.values.hr} vs ${expected}`);
      for (const [i, rr] of (b.rr ?? []).entries()) {
        const true_ = rrAll[rrAll.length - (b.rr!.length - i)]!;
        assert.ok(Math.abs(rr - true_) <= 0.05, `rr ${rr} vs ${true_}`);
      }
      assert.ok(b.values.hr > 40 && b.values.hr < 120);
    }
  });
});

describe('simulated device (mixed-1s profile: the same signals in 1 s frames)', () => {
  it('sends the same samples as the mixed profile in fewer, larger messages', () => {
    const start = Date.UTC(2026, 0, 1);
    const big = new SimDevice('sim-1', 'patient-1', getProfile('mixed-1s'), start, 42).due(start + 20_000);
    const small = new SimDevice('sim-1', 'patient-1', getProfile('mixed'), start, 42).due(start + 20_000);
    const samples = (rs: typeof big, s: string) => rs.filter((r) => r.stream === s).flatMap((r) => ('samples' in r.body ? [...(r.body.samples as number[])] : []));
    assert.equal(big.filter((r) => r.stream === 'ecg').length, 20);
    assert.equal(big.filter((r) => r.stream === 'ppg').length, 20);
    assert.deepEqual(samples(big, 'ecg'), samples(small, 'ecg'));
    assert.deepEqual(samples(big, 'ppg'), samples(small, 'ppg'));
    for (const r of big) assert.ok(validateBody(r.stream, structuredClone(r.body)).ok, `${r.stream} #${r.body.seq} invalid`);
  });
});
