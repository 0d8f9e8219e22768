import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { isBeatAnnotation, readWfdbAnnotations, readWfdbRecord, type WfdbRecord } from '../../src/index.js';
import { detectRPeaks } from '../../src/beats/ecg.js';
import { detectPulsePeaks } from '../../src/beats/ppg.js';
import { scoreBeats } from '../../src/beats/score.js';

// dist/test/beats/ → biosignal/ → repository root; the records live beside it, never in the repository.
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const physionet = path.resolve(repoRoot, '..', 'shared', 'data', 'physionet');
const record = (name: string): Promise<WfdbRecord> => readWfdbRecord(path.join(physionet, `${name}.hea`));

const pct = (v: number): string => `${(100 * v).toFixed(2)} %`;
const report = (line: string): void => console.log(`      ${line}`);

/** Linear-interpolation resampling from fs to fs2 (what a device at another rate would give). */
function resample(x: Float64Array, fs: number, fs2: number): Float64Array {
  const m = Math.floor(((x.length - 1) * fs2) / fs) + 1;
  const y = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    const t = (i * fs) / fs2;
    const k = Math.floor(t);
    const f = t - k;
    y[i] = k + 1 < x.length ? x[k]! * (1 - f) + x[k + 1]! * f : x[k]!;
  }
  return y;
}

function meanStd(v: number[]): { mean: number; std: number } {
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  return { mean, std: Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1)) };
}

/** One-to-one pairs (a, b) with b − a in [lo, hi] samples, a and b ascending. */
function pairs(a: number[], b: number[], lo: number, hi: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let j = 0;
  for (const x of a) {
    while (j < b.length && b[j]! < x + lo) j++;
    if (j < b.length && b[j]! <= x + hi) out.push([x, b[j++]!]);
  }
  return out;
}

function assertBeatList(peaks: number[], n: number): void {
  for (let i = 0; i < peaks.length; i++) {
    const p = peaks[i]!;
    assert.ok(Number.isInteger(p) && p >= 0 && p < n, `peak ${p} outside [0, ${n})`);
    if (i > 0) assert.ok(p > peaks[i - 1]!, `peaks not strictly ascending at ${i}: ${peaks[i - 1]} then ${p}`);
  }
}

describe('bsn beats: scoreBeats', () => {
  it('counts perfect, missed and extra beats', () => {
    assert.deepEqual(scoreBeats([100, 200, 300], [100, 200, 300], 100), { truePositives: 3, falsePositives: 0, falseNegatives: 0, sensitivity: 1, positivePredictivity: 1 });
    const s = scoreBeats([100, 300, 500], [100, 200, 300], 100);
    assert.equal(s.truePositives, 2);
    assert.equal(s.falsePositives, 1);
    assert.equal(s.falseNegatives, 1);
    assert.equal(s.sensitivity, 2 / 3);
    assert.equal(s.positivePredictivity, 2 / 3);
  });

  it('matches one-to-one: two detections of one beat are one TP and one FP, one detection between two beats serves only one', () => {
    assert.deepEqual(
      [scoreBeats([995, 1005], [1000], 1000)].map((s) => [s.truePositives, s.falsePositives, s.falseNegatives]),
      [[1, 1, 0]],
    );
    assert.deepEqual(
      [scoreBeats([1050], [1000, 1100], 1000)].map((s) => [s.truePositives, s.falsePositives, s.falseNegatives]),
      [[1, 0, 1]],
    );
  });

  it('finds the largest matching where taking the nearest detection would not', () => {
    // Beat 100 is nearest to 128, but 128 is the only detection beat 160 can have; 71 serves beat 100.
    const s = scoreBeats([71, 128], [100, 160], 1000, 0.032);
    assert.equal(s.truePositives, 2);
    assert.equal(s.falsePositives, 0);
  });

  it('includes the window edge and excludes one sample past it, at any rate', () => {
    assert.equal(scoreBeats([1150], [1000], 1000).truePositives, 1);
    assert.equal(scoreBeats([850], [1000], 1000).truePositives, 1);
    assert.equal(scoreBeats([1151], [1000], 1000).truePositives, 0);
    assert.equal(scoreBeats([849], [1000], 1000).truePositives, 0);
    assert.equal(scoreBeats([130], [100], 200).truePositives, 1); // 0.15 s × 200 Hz = 30 samples
    assert.equal(scoreBeats([131], [100], 200).truePositives, 0);
    assert.equal(scoreBeats([120], [100], 200, 0.1).truePositives, 1);
  });

  it('accepts unsorted lists, handles empty ones, and rejects a bad rate or window', () => {
    assert.equal(scoreBeats([300, 100, 200], [200, 300, 100], 100).truePositives, 3);
    assert.deepEqual(scoreBeats([], [], 100), { truePositives: 0, falsePositives: 0, falseNegatives: 0, sensitivity: 1, positivePredictivity: 1 });
    assert.equal(scoreBeats([], [1, 2], 100).sensitivity, 0);
    assert.equal(scoreBeats([1, 2], [], 100).positivePredictivity, 0);
    assert.throws(() => scoreBeats([1], [1], 0), RangeError);
    assert.throws(() => scoreBeats([1], [1], 100, -1), RangeError);
  });
});

describe('bsn beats: Pan–Tompkins rules on a synthetic ECG', () => {
  const fs = 250;
  /** 20 s at 75 /min: Gaussian QRS (σ 12 ms) and T wave 300 ms later; beat `small` scaled down. */
  function synthetic(t: { amplitude: number; width: number }, small?: { index: number; amplitude: number }): { x: Float64Array; beats: number[] } {
    const x = new Float64Array(20 * fs);
    const bump = (centre: number, sigma: number, a: number): void => {
      for (let i = Math.max(0, Math.round(centre - 5 * sigma)); i < Math.min(x.length, centre + 5 * sigma); i++) x[i] = x[i]! + a * Math.exp(-0.5 * ((i - centre) / sigma) ** 2);
    };
    const beats: number[] = [];
    for (let s = 0.5; s < 19.5; s += 0.8) beats.push(Math.round(s * fs));
    beats.forEach((b, k) => {
      bump(b, 0.012 * fs, k === small?.index ? small.amplitude : 1);
      bump(b + 0.3 * fs, t.width * fs, t.amplitude);
    });
    return { x, beats };
  }
  const exact = (peaks: number[], beats: number[]) => scoreBeats(peaks, beats, fs, 0.04);

  it('searches back for a small beat once an RR interval exceeds 166 % of the average', () => {
    const { x, beats } = synthetic({ amplitude: 0.45, width: 0.05 }, { index: 12, amplitude: 0.45 });
    const withSearch = exact(detectRPeaks(x, fs), beats);
    assert.equal(withSearch.truePositives, beats.length);
    assert.equal(withSearch.falsePositives, 0);
    const without = exact(detectRPeaks(x, fs, { searchback: false }), beats);
    assert.equal(without.falseNegatives, 1, 'the small beat is below the first thresholds');
  });

  it('takes a tall but slow wave within 360 ms of a QRS for a T wave', () => {
    const { x, beats } = synthetic({ amplitude: 1.2, width: 0.04 });
    const s = exact(detectRPeaks(x, fs), beats);
    assert.equal(s.truePositives, beats.length);
    assert.equal(s.falsePositives, 0);
    assert.equal(exact(detectRPeaks(x, fs, { tWaveMs: 1 }), beats).falsePositives, beats.length, 'without the slope test every T wave counts');
  });
});

describe('bsn beats: R peaks on MIT-BIH record 100', function () {
  this.timeout(60_000);
  let rec: WfdbRecord;
  let reference: number[];
  const fs = 360;
  before(async () => {
    rec = await record('100');
    reference = (await readWfdbAnnotations(path.join(physionet, '100.atr'))).filter((a) => isBeatAnnotation(a.code)).map((a) => a.sample);
    assert.equal(rec.sampleRate(0), fs);
    assert.equal(reference.length, 2273);
  });

  it('MLII (signal 0), whole 30 min, 150 ms window: Se ≥ 99.5 % and +P ≥ 99.5 %, on the R peak', () => {
    const peaks = detectRPeaks(rec.physical(0), fs);
    assertBeatList(peaks, rec.nFrames);
    const s = scoreBeats(peaks, reference, fs);
    report(`100 MLII: Se ${pct(s.sensitivity)} +P ${pct(s.positivePredictivity)} (TP ${s.truePositives}, FP ${s.falsePositives}, FN ${s.falseNegatives})`);
    assert.ok(s.sensitivity >= 0.995, `Se ${s.sensitivity}`);
    assert.ok(s.positivePredictivity >= 0.995, `+P ${s.positivePredictivity}`);
    // The annotations sit on the R peak; so must the detections (not merely somewhere in the QRS).
    const offsets = pairs(reference, peaks, -54, 54).map(([r, p]) => p - r);
    const { mean, std } = meanStd(offsets);
    report(`100 MLII: detection − annotation ${((1000 * mean) / fs).toFixed(2)} ± ${((1000 * std) / fs).toFixed(2)} ms`);
    assert.ok(Math.abs(mean) <= 2 && std <= 2, `offset ${mean} ± ${std} samples`);
  });

  it('V5 (signal 1), whole 30 min: Se ≥ 99.5 % and +P ≥ 99.5 %', () => {
    const s = scoreBeats(detectRPeaks(rec.physical(1), fs), reference, fs);
    report(`100 V5: Se ${pct(s.sensitivity)} +P ${pct(s.positivePredictivity)} (TP ${s.truePositives}, FP ${s.falsePositives}, FN ${s.falseNegatives})`);
    assert.ok(s.sensitivity >= 0.995, `Se ${s.sensitivity}`);
    assert.ok(s.positivePredictivity >= 0.995, `+P ${s.positivePredictivity}`);
  });

  it('is rate independent: resampled to 125, 250, 500 and 1000 Hz it still scores ≥ 99.5 % on both leads', () => {
    for (const signal of [0, 1]) {
      const x = rec.physical(signal);
      for (const fs2 of [125, 250, 500, 1000]) {
        const ref = reference.map((r) => (r * fs2) / fs);
        const s = scoreBeats(detectRPeaks(resample(x, fs, fs2), fs2), ref, fs2);
        report(`100 ${signal === 0 ? 'MLII' : 'V5'} at ${fs2} Hz: Se ${pct(s.sensitivity)} +P ${pct(s.positivePredictivity)}`);
        assert.ok(s.sensitivity >= 0.995 && s.positivePredictivity >= 0.995, `${fs2} Hz, signal ${signal}: ${JSON.stringify(s)}`);
      }
    }
  });

  it('detects an inverted lead just as well, still on the R peak', () => {
    const x = rec.physical(0);
    const upright = detectRPeaks(x, fs);
    const inverted = detectRPeaks(x.map((v) => -v), fs);
    const s = scoreBeats(inverted, reference, fs);
    report(`100 MLII inverted: Se ${pct(s.sensitivity)} +P ${pct(s.positivePredictivity)}`);
    assert.ok(s.sensitivity >= 0.995 && s.positivePredictivity >= 0.995, JSON.stringify(s));
    assert.equal(scoreBeats(inverted, upright, fs, 0.01).truePositives, upright.length);
  });

  it('does not depend on units or offset (µV with a DC offset gives the same beats)', () => {
    const x = rec.physical(0);
    const peaks = detectRPeaks(x, fs);
    assert.deepEqual(detectRPeaks(x.map((v) => 1000 * v + 5e4), fs), peaks);
  });

  it('bridges invalid (NaN) stretches: 2 % of the record blanked in 0.5 s gaps, beats elsewhere still found', () => {
    const x = rec.physical(0).slice();
    const gap = Math.round(0.5 * fs);
    const blanked: Array<[number, number]> = [];
    for (let start = 7 * fs; start + gap < x.length; start += 25 * fs + 37) {
      x.fill(NaN, start, start + gap);
      blanked.push([start, start + gap]);
    }
    const inGap = (p: number): boolean => blanked.some(([a, b]) => p >= a - 0.15 * fs && p < b + 0.15 * fs);
    const peaks = detectRPeaks(x, fs);
    assertBeatList(peaks, x.length);
    assert.ok(peaks.every((p) => !Number.isNaN(x[p]!)), 'a peak on an invalid sample');
    const s = scoreBeats(peaks.filter((p) => !inGap(p)), reference.filter((r) => !inGap(r)), fs);
    report(`100 MLII with ${blanked.length} NaN gaps: Se ${pct(s.sensitivity)} +P ${pct(s.positivePredictivity)} outside the gaps`);
    assert.ok(s.sensitivity >= 0.995 && s.positivePredictivity >= 0.995, JSON.stringify(s));
  });

  it('keeps a beat whose R peak itself was a dropped sample (short gaps are bridged)', () => {
    const x = rec.physical(0).slice();
    const hit = reference.filter((_, i) => i % 10 === 5);
    for (const r of hit) x.fill(NaN, r - 1, r + 2); // 3 samples, 8 ms
    const s = scoreBeats(detectRPeaks(x, fs), reference, fs);
    assert.ok(s.sensitivity >= 0.995 && s.positivePredictivity >= 0.995, JSON.stringify(s));
  });

  it('undoes ADC wrap-around: MLII wrapped into an 8-bit converter range gives the same beats', () => {
    const digital = rec.digital[0]!;
    const span = 256; // the record's 11-bit values use ~830 steps, so they wrap several times
    const wrapped = Float64Array.from(digital, (d) => ((((d % span) + span) % span) - span / 2) / 200);
    const peaks = detectRPeaks(wrapped, fs);
    const s = scoreBeats(peaks, reference, fs);
    report(`100 MLII wrapped to 8 bits: Se ${pct(s.sensitivity)} +P ${pct(s.positivePredictivity)}`);
    assert.ok(s.sensitivity >= 0.995 && s.positivePredictivity >= 0.995, JSON.stringify(s));
    const original = detectRPeaks(rec.physical(0), fs);
    assert.equal(scoreBeats(peaks, original, fs, 0.01).truePositives, original.length);
  });

  it('takes well under 500 ms for the 30-minute record at 360 Hz', () => {
    const x = rec.physical(0);
    let best = Infinity;
    for (let k = 0; k < 3; k++) {
      const t0 = performance.now();
      detectRPeaks(x, fs);
      best = Math.min(best, performance.now() - t0);
    }
    report(`100 MLII (650 000 samples): ${best.toFixed(0)} ms (best of 3)`);
    assert.ok(best < 500, `${best} ms`);
  });
});

describe('bsn beats: PhysioNet v102s (ECG II, V, PLETH at 250 Hz)', function () {
  this.timeout(60_000);
  let rec: WfdbRecord;
  let ii: number[];
  let v: number[];
  const fs = 250;
  before(async () => {
    rec = await record('v102s');
    assert.equal(rec.sampleRate(0), fs);
    ii = detectRPeaks(rec.physical(0), fs);
    v = detectRPeaks(rec.physical(1), fs);
  });

  it('ECG II and V give the same beats, one-to-one within 150 ms, for ≥ 99 %', () => {
    assertBeatList(ii, rec.nFrames);
    assertBeatList(v, rec.nFrames);
    const s = scoreBeats(v, ii, fs);
    report(`v102s: II ${ii.length} beats, V ${v.length}; matched ${s.truePositives} (${pct(s.sensitivity)} of II, ${pct(s.positivePredictivity)} of V)`);
    assert.ok(s.sensitivity >= 0.99 && s.positivePredictivity >= 0.99, JSON.stringify(s));
    // 5 minutes at the ~105 /min this patient shows.
    assert.ok(ii.length > 480 && ii.length < 560, `${ii.length} beats`);
  });

  it('PLETH pulses match the ECG beats one-to-one at a steady delay for ≥ 98 % of beats', () => {
    const pulses = detectPulsePeaks(rec.physical(2), fs);
    assertBeatList(pulses, rec.nFrames);
    // The delay from the preceding R peak, typical over the record.
    const lags: number[] = [];
    let k = 0;
    for (const p of pulses) {
      while (k + 1 < ii.length && ii[k + 1]! <= p) k++;
      if (ii[k]! <= p) lags.push(p - ii[k]!);
    }
    lags.sort((a, b) => a - b);
    const lag = lags[lags.length >> 1]!;
    const matched = pairs(ii, pulses, lag - 0.15 * fs, lag + 0.15 * fs);
    const delay = meanStd(matched.map(([r, p]) => ((p - r) * 1000) / fs));
    // Beat-to-beat: inter-pulse intervals against the RR intervals they follow.
    const ipiMinusRr: number[] = [];
    for (let i = 1; i < matched.length; i++) {
      const [r0, p0] = matched[i - 1]!;
      const [r1, p1] = matched[i]!;
      if (r1 - r0 < 1.5 * fs) ipiMinusRr.push(((p1 - p0 - (r1 - r0)) * 1000) / fs);
    }
    const ipi = meanStd(ipiMinusRr);
    report(`v102s: ${pulses.length} pulses, ${matched.length}/${ii.length} beats matched (${pct(matched.length / ii.length)}); pulse − R ${delay.mean.toFixed(1)} ± ${delay.std.toFixed(1)} ms; IPI − RR ${ipi.mean.toFixed(1)} ± ${ipi.std.toFixed(1)} ms`);
    assert.ok(matched.length >= 0.98 * ii.length, `${matched.length} of ${ii.length}`);
    assert.ok(matched.length >= 0.98 * pulses.length, `${matched.length} of ${pulses.length} pulses`);
    assert.ok(delay.std < 25, `pulse − R std ${delay.std} ms`);
    assert.ok(Math.abs(ipi.mean) < 2 && ipi.std < 25, `IPI − RR ${ipi.mean} ± ${ipi.std} ms`);
  });
});

describe('bsn beats: test01_00s (4 ECG leads at 500 Hz, 8 s)', () => {
  it('all four leads give the same beat count ± 1, and the same beats', async () => {
    const rec = await record('test01_00s');
    const fs = rec.sampleRate(0);
    assert.equal(fs, 500);
    const leads = [0, 1, 2, 3].map((s) => detectRPeaks(rec.physical(s), fs));
    report(`test01_00s: ${leads.map((p) => p.length).join(', ')} beats`);
    const counts = leads.map((p) => p.length);
    assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, counts.join(', '));
    assert.ok(counts[0]! >= 8, `${counts[0]} beats in 8 s`);
    for (const p of leads.slice(1)) assert.ok(scoreBeats(p, leads[0]!, fs).truePositives >= counts[0]! - 1);
  });
});

describe('bsn beats: robustness', function () {
  this.timeout(60_000);
  const rates = fc.oneof(fc.constantFrom(125, 250, 360, 500, 1000), fc.double({ min: 125, max: 1000, noNaN: true }));
  const sample = fc.oneof(
    { weight: 6, arbitrary: fc.double({ min: -5, max: 5, noNaN: true }) },
    { weight: 1, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity, 0, Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE) },
    { weight: 1, arbitrary: fc.double() },
  );
  const signals = fc.oneof(
    fc.array(sample, { maxLength: 3000 }),
    fc.array(sample, { maxLength: 8 }),
    fc.tuple(fc.double(), fc.nat(3000)).map(([v, n]) => new Array<number>(n).fill(v)),
  );

  it('never throws on arbitrary input and returns sorted, in-range sample indices (ECG and PPG)', () => {
    fc.assert(
      fc.property(signals, rates, (arr, fs) => {
        const x = Float64Array.from(arr);
        const r = detectRPeaks(x, fs);
        assertBeatList(r, x.length);
        const p = detectPulsePeaks(x, fs);
        assertBeatList(p, x.length);
        for (const fid of ['foot', 'maxSlope', 'peak'] as const) assertBeatList(detectPulsePeaks(x, fs, { fiducial: fid }), x.length);
      }),
      { numRuns: 200 },
    );
  });

  it('finds no beat in a flat line, however long, scaled or interrupted by invalid samples', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.nat(20_000), rates, fc.array(fc.nat(20_000), { maxLength: 20 }), (v, n, fs, holes) => {
        const x = new Float64Array(n).fill(v);
        for (const h of holes) if (h < n) x[h] = NaN;
        assert.deepEqual(detectRPeaks(x, fs), []);
        assert.deepEqual(detectPulsePeaks(x, fs), []);
      }),
      { numRuns: 50 },
    );
  });

  it('finds nothing in all-invalid or empty input, and rejects a non-positive rate', () => {
    assert.deepEqual(detectRPeaks(new Float64Array(5000).fill(NaN), 250), []);
    assert.deepEqual(detectRPeaks(new Float64Array(0), 250), []);
    assert.deepEqual(detectPulsePeaks(new Float64Array(5000).fill(NaN), 250), []);
    assert.throws(() => detectRPeaks(new Float64Array(10), 0), RangeError);
    assert.throws(() => detectPulsePeaks(new Float64Array(10), NaN), RangeError);
  });

  it('is exported from the biosignal package entry point', async () => {
    const entry = await import('../../src/index.js');
    assert.equal(entry.detectRPeaks, detectRPeaks);
    assert.equal(entry.detectPulsePeaks, detectPulsePeaks);
    assert.equal(entry.scoreBeats, scoreBeats);
  });
});
