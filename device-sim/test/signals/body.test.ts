import assert from 'node:assert/strict';
import { BodyModel, MAX_RR_MS, MIN_RR_MS, PPG_MAX_COUNT, type BodyModelOptions } from '../../src/signals/index.js';

// 08:00 UTC; tests look at windows a few seconds in so that the body has been beating for a while.
const START = Date.UTC(2024, 0, 15, 8, 0, 0);
const T0 = START + 10_000;

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}
function sd(xs: readonly number[]): number {
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
}
function intervals(beats: readonly number[]): number[] {
  return beats.slice(1).map((t, i) => t - beats[i]!);
}
/** Indices of strict-left local maxima at or above `threshold` (first and last samples excluded). */
function peaks(x: readonly number[], threshold: number): number[] {
  const out: number[] = [];
  for (let i = 1; i < x.length - 1; i++) {
    const v = x[i]!;
    if (v >= threshold && v > x[i - 1]! && v >= x[i + 1]!) out.push(i);
  }
  return out;
}
/**
 * PPG systolic peaks, the way PPG detectors find them: the highest sample within ±halfWindow that
 * has also risen by at least `minRise` over the preceding halfWindow. The rise test rejects the
 * diastolic wave (it rises only from the notch); the window absorbs noise on the rounded top.
 */
function pulsePeaks(x: readonly number[], minRise: number, halfWindow: number): number[] {
  const out: number[] = [];
  for (let i = halfWindow; i < x.length - halfWindow; i++) {
    const v = x[i]!;
    let ok = true;
    let low = v;
    for (let j = i - halfWindow; j < i && ok; j++) {
      ok = x[j]! < v;
      low = Math.min(low, x[j]!);
    }
    for (let j = i + 1; j <= i + halfWindow && ok; j++) ok = x[j]! <= v;
    if (ok && v - low >= minRise) out.push(i);
  }
  return out;
}
/** Power of an RR tachogram (resampled at 4 Hz, Hann-windowed) in a band, by direct DFT. */
function bandPower(beats: readonly number[], rr: readonly number[], loHz: number, hiHz: number): { power: number; peakHz: number } {
  const fs = 4;
  const t0 = beats[1]!;
  const n = Math.floor(((beats[beats.length - 1]! - t0) / 1000) * fs);
  const x: number[] = [];
  let k = 0;
  for (let i = 0; i < n; i++) {
    const t = t0 + (i * 1000) / fs;
    while (beats[k + 2]! <= t) k++;
    const a = beats[k + 1]!;
    const b = beats[k + 2]!;
    x.push(rr[k]! + ((rr[k + 1]! - rr[k]!) * (t - a)) / (b - a)); // rr[k] ends at beats[k+1]
  }
  const m = mean(x);
  const w = x.map((v, i) => (v - m) * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1))));
  let power = 0;
  let peakHz = 0;
  let peakP = -1;
  const df = fs / n;
  for (let f = Math.ceil(loHz / df) * df; f < hiHz; f += df) {
    let re = 0;
    let im = 0;
    for (let i = 0; i < n; i++) {
      const ph = (2 * Math.PI * f * i) / fs;
      re += w[i]! * Math.cos(ph);
      im -= w[i]! * Math.sin(ph);
    }
    const p = re * re + im * im;
    power += p;
    if (p > peakP) {
      peakP = p;
      peakHz = f;
    }
  }
  return { power, peakHz };
}

describe('signals: BodyModel', () => {
  describe('determinism', () => {
    it('same seed and start give identical output; different seeds differ', () => {
      const a = new BodyModel({ seed: 42, startMs: START });
      const b = new BodyModel({ seed: 42, startMs: START });
      const c = new BodyModel({ seed: 43, startMs: START });
      assert.deepEqual(a.beats(T0, T0 + 30_000), b.beats(T0, T0 + 30_000));
      assert.deepEqual(a.ecg(T0, 2500, 250), b.ecg(T0, 2500, 250));
      assert.deepEqual(a.ppg(T0, 640, 64), b.ppg(T0, 640, 64));
      assert.equal(a.spo2(T0), b.spo2(T0));
      assert.equal(a.temperature(T0), b.temperature(T0));
      assert.equal(a.respirationRate(T0), b.respirationRate(T0));
      assert.notDeepEqual(a.beats(T0, T0 + 30_000), c.beats(T0, T0 + 30_000));
      assert.notDeepEqual(a.ecg(T0, 2500, 250), c.ecg(T0, 2500, 250));
      assert.notDeepEqual(a.ppg(T0, 640, 64), c.ppg(T0, 640, 64));
    });

    it('output does not depend on call history: a used model equals a fresh one', () => {
      const used = new BodyModel({ seed: 7, startMs: START });
      used.ecg(T0 - 5000, 2000, 250);
      used.ppg(T0 + 60_000, 100, 64);
      used.beats(T0, T0 + 120_000);
      const fresh = new BodyModel({ seed: 7, startMs: START });
      assert.deepEqual(used.ecg(T0, 1000, 250), fresh.ecg(T0, 1000, 250));
      assert.deepEqual(used.ppg(T0, 256, 64), fresh.ppg(T0, 256, 64));
    });

    it('accepts any finite seed and validates its arguments', () => {
      assert.notDeepEqual(
        new BodyModel({ seed: 1, startMs: START }).beats(T0, T0 + 10_000),
        new BodyModel({ seed: 2 ** 32 + 1, startMs: START }).beats(T0, T0 + 10_000),
      );
      assert.throws(() => new BodyModel({ seed: Number.NaN, startMs: START }), RangeError);
      assert.throws(() => new BodyModel({ seed: 1, startMs: Number.POSITIVE_INFINITY }), RangeError);
      assert.throws(() => new BodyModel({ seed: 1, startMs: START, meanHrBpm: 250 }), RangeError);
      const m = new BodyModel({ seed: 1, startMs: START });
      assert.throws(() => m.ecg(T0, 10, 0), RangeError);
      assert.throws(() => m.ppg(T0, -1, 64), RangeError);
      assert.throws(() => m.ecg(T0, 1.5, 250), RangeError);
      assert.deepEqual(m.ecg(T0, 0, 250), []);
      assert.deepEqual(m.beats(T0, T0), []);
    });
  });

  describe('contiguous windows', () => {
    it('10 ECG frames of 25 samples equal one call of 250; 2 PPG frames of 32 equal one of 64', () => {
      const framed = new BodyModel({ seed: 11, startMs: START });
      const whole = new BodyModel({ seed: 11, startMs: START });
      const ecgFrames: number[] = [];
      const ppgFrames: number[] = [];
      // Interleave streams and discards the way a device loop does.
      for (let f = 0; f < 10; f++) {
        ecgFrames.push(...framed.ecg(T0 + f * 100, 25, 250));
        if (f % 5 === 4) ppgFrames.push(...framed.ppg(T0 + ((f - 4) / 5) * 500, 32, 64));
        framed.discardBefore(T0 + f * 100);
      }
      assert.deepEqual(ecgFrames, whole.ecg(T0, 250, 250));
      assert.deepEqual(ppgFrames, whole.ppg(T0, 64, 64));
    });

    it('holds for a rate whose period is not exact in binary (360 Hz)', () => {
      const m = new BodyModel({ seed: 12, startMs: START });
      const framed: number[] = [];
      const period = 1000 / 360;
      for (let f = 0; f < 36; f++) framed.push(...m.ecg(T0 + f * 10 * period, 10, 360));
      assert.deepEqual(framed, new BodyModel({ seed: 12, startMs: START }).ecg(T0, 360, 360));
    });

    it('beats() windows partition exactly', () => {
      const m = new BodyModel({ seed: 13, startMs: START });
      const parts = [...m.beats(T0, T0 + 7_000), ...m.beats(T0 + 7_000, T0 + 7_001), ...m.beats(T0 + 7_001, T0 + 20_000)];
      assert.deepEqual(parts, new BodyModel({ seed: 13, startMs: START }).beats(T0, T0 + 20_000));
      // A window starting exactly on a beat includes it.
      const b = parts[3]!;
      assert.equal(m.beats(b, b + 1)[0], b);
    });
  });

  describe('beats and heart-rate variability', () => {
    const seeds = Array.from({ length: 20 }, (_, i) => i + 1);

    it('RR within 300–2000 ms, mean HR near meanHrBpm, SDNN plausible over 5 minutes', () => {
      const hrs: number[] = [];
      const sdnns: number[] = [];
      for (const seed of seeds) {
        const m = new BodyModel({ seed, startMs: START });
        assert.ok(m.meanHrBpm >= 60 && m.meanHrBpm <= 90, `default meanHrBpm ${m.meanHrBpm}`);
        const rr = intervals(m.beats(T0, T0 + 300_000));
        for (const r of rr) assert.ok(r >= MIN_RR_MS && r <= MAX_RR_MS, `RR ${r}`);
        const hr = 60_000 / mean(rr);
        assert.ok(Math.abs(hr - m.meanHrBpm) < 3, `seed ${seed}: HR ${hr} vs ${m.meanHrBpm}`);
        const sdnn = sd(rr);
        assert.ok(sdnn >= 15 && sdnn <= 150, `seed ${seed}: SDNN ${sdnn}`);
        // Beat-to-beat variation, not only slow drift.
        const rmssd = Math.sqrt(mean(rr.slice(1).map((r, i) => (r - rr[i]!) ** 2)));
        assert.ok(rmssd >= 5, `seed ${seed}: RMSSD ${rmssd}`);
        hrs.push(hr);
        sdnns.push(sdnn);
      }
      console.log(
        `      20 seeds, 5 min: mean HR ${Math.min(...hrs).toFixed(1)}–${Math.max(...hrs).toFixed(1)} bpm, ` +
          `SDNN ${Math.min(...sdnns).toFixed(1)}–${Math.max(...sdnns).toFixed(1)} ms (median ${[...sdnns].sort((a, b) => a - b)[10]!.toFixed(1)})`,
      );
    });

    it('honours an explicit meanHrBpm and keeps RR in range at the extremes', () => {
      for (const bpm of [35, 72, 180]) {
        const m = new BodyModel({ seed: 5, startMs: START, meanHrBpm: bpm });
        const rr = intervals(m.beats(T0, T0 + 300_000));
        for (const r of rr) assert.ok(r >= MIN_RR_MS && r <= MAX_RR_MS, `RR ${r} at ${bpm} bpm`);
        const hr = 60_000 / mean(rr);
        assert.ok(Math.abs(hr - bpm) < 0.05 * bpm, `HR ${hr} vs ${bpm}`);
      }
    });

    it('has LF (Mayer, ~0.1 Hz) and HF (RSA, at the respiration rate) spectral peaks', () => {
      for (const seed of [1, 2, 3, 4, 5]) {
        const m = new BodyModel({ seed, startMs: START });
        const beats = m.beats(T0, T0 + 300_000);
        const rr = intervals(beats);
        const lf = bandPower(beats, rr, 0.04, 0.15);
        const hf = bandPower(beats, rr, 0.15, 0.4);
        const total = lf.power + hf.power;
        assert.ok(lf.power / total > 0.15, `seed ${seed}: LF share ${lf.power / total}`);
        assert.ok(hf.power / total > 0.15, `seed ${seed}: HF share ${hf.power / total}`);
        assert.ok(lf.peakHz >= 0.06 && lf.peakHz <= 0.14, `seed ${seed}: LF peak ${lf.peakHz}`);
        let resp = 0;
        for (let t = T0; t < T0 + 300_000; t += 1000) resp += m.respirationRate(t) / 60 / 300;
        assert.ok(Math.abs(hf.peakHz - resp) < 0.04, `seed ${seed}: HF peak ${hf.peakHz} Hz vs respiration ${resp} Hz`);
      }
    });
  });

  describe('ECG', () => {
    const rate = 250;
    const period = 1000 / rate;

    it('R peaks sit on beats() within one sample, none missed or extra; µV integers of plausible size', () => {
      const amps: number[] = [];
      const bodies: BodyModelOptions[] = [1, 2, 3, 4, 5, 6].map((seed) => ({ seed, startMs: START }));
      bodies.push({ seed: 7, startMs: START, meanHrBpm: 40 }, { seed: 8, startMs: START, meanHrBpm: 180 });
      for (const opts of bodies) {
        const m = new BodyModel(opts);
        // Render a second either side of the minute checked, so no R peak sits on the edge.
        const from = T0 - 1000;
        const x = m.ecg(from, 62 * rate, rate);
        assert.ok(x.every(Number.isInteger));
        const found = peaks(x, 600).map((i) => from + i * period);
        const allBeats = m.beats(from, from + 62_000);
        const near = (t: number, ts: readonly number[]): number => ts.filter((u) => Math.abs(u - t) <= period).length;
        const beats = m.beats(T0, T0 + 60_000);
        for (const b of beats) assert.equal(near(b, found), 1, `seed ${opts.seed}: R peaks within a sample of the beat at ${b - T0}`);
        for (const t of found.filter((u) => u >= T0 && u < T0 + 60_000)) {
          assert.equal(near(t, allBeats), 1, `seed ${opts.seed}: peak at ${t - T0} matches no beat`);
          const v = x[Math.round((t - from) / period)]!;
          assert.ok(v >= 800 && v <= 2000, `seed ${opts.seed}: R amplitude ${v} µV`);
          amps.push(v);
        }
      }
      console.log(`      R amplitude ${Math.min(...amps)}–${Math.max(...amps)} µV`);
    });

    it('is an ECG, not a sine: narrow QRS and a T wave between consecutive R peaks', () => {
      const m = new BodyModel({ seed: 21, startMs: START });
      const x = m.ecg(T0, 30 * rate, rate);
      const beats = m.beats(T0 + 200, T0 + 29_000);
      for (let n = 0; n + 1 < beats.length; n++) {
        const r = Math.round((beats[n]! - T0) / period);
        const rr = beats[n + 1]! - beats[n]!;
        const ref = x[r - Math.round(64 / period)]!; // PR segment: isoelectric
        const rAmp = x[r]! - ref;
        // QRS: under 40 ms above half the R height (a 1 Hz sine would stay there for ~330 ms).
        let wide = 0;
        for (let i = r - 25; i <= r + 25; i++) if (x[i]! - ref > rAmp / 2) wide++;
        assert.ok(wide <= 40 / period, `QRS ${wide} samples above half height`);
        // T wave: a positive bump 100 ms after R up to 60% of the cycle, well below R.
        let best = -Infinity;
        for (let i = r + Math.round(100 / period); i < r + (0.6 * rr) / period; i++) best = Math.max(best, x[i]! - ref);
        assert.ok(best >= 100 && best < 0.6 * rAmp, `T wave height ${best} µV (R ${rAmp})`);
      }
    });

    it('T wave moves with RR (QT rate dependence)', () => {
      const tPeakDelay = (bpm: number): number => {
        const m = new BodyModel({ seed: 22, startMs: START, meanHrBpm: bpm });
        const x = m.ecg(T0, 20 * rate, rate);
        const beats = m.beats(T0, T0 + 19_000);
        const delays: number[] = [];
        for (let n = 0; n + 1 < beats.length; n++) {
          const r = Math.round((beats[n]! - T0) / period);
          let best = r + 25;
          for (let i = best; i < r + (0.6 * (beats[n + 1]! - beats[n]!)) / period; i++) if (x[i]! > x[best]!) best = i;
          delays.push((best - r) * period);
        }
        return mean(delays);
      };
      const slow = tPeakDelay(50);
      const fast = tPeakDelay(120);
      assert.ok(slow > fast + 40, `T peak ${slow} ms after R at 50 bpm vs ${fast} ms at 120 bpm`);
      assert.ok(slow > 200 && slow < 400 && fast > 120 && fast < 300);
    });
  });

  describe('PPG', () => {
    it('pulse peaks follow each R peak by 120–300 ms, one per beat, integer counts in 0..4095', () => {
      const rate = 64;
      const period = 1000 / rate;
      const lags: number[] = [];
      const bodies: BodyModelOptions[] = [1, 2, 3, 4, 5, 6].map((seed) => ({ seed, startMs: START }));
      bodies.push({ seed: 7, startMs: START, meanHrBpm: 40 }, { seed: 8, startMs: START, meanHrBpm: 180 });
      for (const opts of bodies) {
        const m = new BodyModel(opts);
        const from = T0 - 1000;
        const x = m.ppg(from, 62 * rate, rate);
        assert.ok(x.every((v) => Number.isInteger(v) && v >= 0 && v <= PPG_MAX_COUNT));
        assert.ok(mean(x) > 1700 && mean(x) < 2600, `PPG mean ${mean(x)}`);
        const swing = Math.max(...x) - Math.min(...x);
        const found = pulsePeaks(x, 0.3 * swing, Math.round(150 / period)).map((i) => from + i * period);
        const allBeats = m.beats(from - 2000, from + 62_000);
        const owners = new Map<number, number>();
        for (const p of found.filter((t) => t >= T0)) {
          const r = allBeats.filter((b) => b < p).pop()!;
          const lag = p - r;
          assert.ok(lag >= 120 && lag <= 300, `seed ${opts.seed}: PPG peak ${lag} ms after R`);
          owners.set(r, (owners.get(r) ?? 0) + 1);
          lags.push(lag);
        }
        for (const b of m.beats(T0, T0 + 60_000)) {
          assert.equal(owners.get(b), 1, `seed ${opts.seed}: PPG peaks after the R peak at ${b - T0}`);
        }
      }
      console.log(`      PPG peak lag after R: ${Math.min(...lags).toFixed(0)}–${Math.max(...lags).toFixed(0)} ms (mean ${mean(lags).toFixed(0)})`);
    });

    it('has a dicrotic notch and diastolic wave after each systolic peak', () => {
      const rate = 128;
      const period = 1000 / rate;
      const m = new BodyModel({ seed: 31, startMs: START });
      const x = m.ppg(T0, 30 * rate, rate);
      const systolic = pulsePeaks(x, 0.3 * (Math.max(...x) - Math.min(...x)), Math.round(150 / period));
      assert.ok(systolic.length > 20);
      // 5-point moving average (39 ms): removes sensor noise, keeps the ~100 ms notch.
      const sm = x.map((_, i) => mean(x.slice(Math.max(0, i - 2), i + 3)));
      const rises: number[] = [];
      for (let n = 0; n + 1 < systolic.length; n++) {
        const s = systolic[n]!;
        // Up to 45% of the cycle, before the next upstroke: the signal falls to the notch, then
        // rises again (diastolic wave) by a clear margin, staying below the systolic peak.
        const end = s + Math.floor(0.45 * (systolic[n + 1]! - s));
        let lowest = Infinity;
        let rise = 0;
        for (let i = s + 1; i <= end; i++) {
          lowest = Math.min(lowest, sm[i]!);
          rise = Math.max(rise, sm[i]! - lowest);
          assert.ok(x[i]! <= x[s]!, 'diastolic wave below the systolic peak');
        }
        assert.ok(rise >= 20, `beat ${n}: diastolic rise after the notch only ${rise.toFixed(1)} counts`);
        rises.push(rise);
      }
      console.log(`      notch-to-diastolic rise ${Math.min(...rises).toFixed(0)}–${Math.max(...rises).toFixed(0)} counts`);
    });
  });

  describe('slow vitals', () => {
    it('SpO2, temperature and respiration rate stay in band over a (simulated) hour', () => {
      for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
        const m = new BodyModel({ seed, startMs: START });
        const spo2: number[] = [];
        const temp: number[] = [];
        const resp: number[] = [];
        for (let t = START; t <= START + 3_600_000; t += 5_000) {
          spo2.push(m.spo2(t));
          temp.push(m.temperature(t));
          resp.push(m.respirationRate(t));
        }
        for (const v of spo2) assert.ok(v >= 94 && v <= 99 && Math.round(v * 10) / 10 === v, `SpO2 ${v}`);
        for (const v of temp) assert.ok(v >= 36.4 && v <= 37.3 && Math.round(v * 100) / 100 === v, `temperature ${v}`);
        for (const v of resp) assert.ok(v >= 10 && v <= 20 && Math.round(v * 10) / 10 === v, `respiration ${v}`);
        // They wander; a constant would pass the band check trivially.
        assert.ok(new Set(spo2).size > 5 && new Set(temp).size > 5 && new Set(resp).size > 5);
        assert.ok(Math.max(...spo2) - Math.min(...spo2) < 3.5, 'SpO2 wanders slowly, not wildly');
      }
    });

    it('temperature follows a circadian rhythm (lower at 05:00 UTC than at 17:00 UTC)', () => {
      for (const seed of [1, 2, 3]) {
        const m = new BodyModel({ seed, startMs: START });
        const day = Date.UTC(2024, 0, 16);
        assert.ok(m.temperature(day + 5 * 3_600_000) < m.temperature(day + 17 * 3_600_000));
      }
    });
  });

  describe('long runs', () => {
    it('keeps memory bounded with discardBefore, and replays discarded history identically', () => {
      const m = new BodyModel({ seed: 51, startMs: START });
      const early = m.ecg(T0, 500, 250);
      const hours = 2;
      let maxRetained = 0;
      // Poll like a device: 1 s of ECG and PPG, then discard.
      for (let s = 0; s < hours * 3600; s++) {
        const t = T0 + s * 1000;
        m.ecg(t, 250, 250);
        m.ppg(t, 64, 64);
        m.beats(t, t + 1000);
        m.discardBefore(t + 1000);
        maxRetained = Math.max(maxRetained, m.retainedBeats);
      }
      assert.ok(maxRetained <= 6, `retained ${maxRetained} beats`);
      const late = T0 + hours * 3_600_000;
      const fresh = new BodyModel({ seed: 51, startMs: START });
      assert.deepEqual(m.ecg(late, 250, 250), fresh.ecg(late, 250, 250));
      assert.deepEqual(m.ecg(T0, 500, 250), early); // replayed from the start
      assert.ok(m.retainedBeats < 10_000);
    });

    it('bounds memory by itself when a caller never discards', () => {
      const m = new BodyModel({ seed: 52, startMs: START });
      m.beats(START + 48 * 3_600_000, START + 48 * 3_600_000 + 1000);
      assert.ok(m.retainedBeats <= 4096, `retained ${m.retainedBeats}`);
    });
  });

  describe('performance sanity', () => {
    it('1000 bodies × 1 s of ECG (250 Hz, 25-sample frames) and PPG (64 Hz, 32-sample frames)', () => {
      const bodies = Array.from({ length: 1000 }, (_, i) => new BodyModel({ seed: 1000 + i, startMs: START }));
      const run = (from: number): number => {
        let samples = 0;
        for (const b of bodies) {
          for (let f = 0; f < 10; f++) samples += b.ecg(from + f * 100, 25, 250).length;
          for (let f = 0; f < 2; f++) samples += b.ppg(from + f * 500, 32, 64).length;
          b.discardBefore(from + 1000);
        }
        return samples;
      };
      run(T0); // warm-up (JIT, first beats)
      const t = process.hrtime.bigint();
      const samples = run(T0 + 1000);
      const ns = Number(process.hrtime.bigint() - t);
      assert.equal(samples, 1000 * (250 + 64));
      console.log(`      ${samples} samples in ${(ns / 1e6).toFixed(1)} ms: ${(ns / 1e3 / samples).toFixed(3)} µs/sample`);
    });
  });
});
