/**
 * ECG R-peak detection after Pan & Tompkins (IEEE TBME 32(3):230-236, 1985), written for recorded
 * windows at any sampling rate (designed and tested for 125-1000 Hz):
 *
 *  1. invalid samples (NaN, ±Infinity) are bridged by linear interpolation, ADC wrap-around is
 *     undone, and the signal is scaled (the thresholds are relative, so units do not matter and
 *     nothing can overflow);
 *  2. band-pass 5-15 Hz: second-order Butterworth high- and low-pass sections designed from fs,
 *     run forward and backward (zero phase, so the QRS stays where it is);
 *  3. five-point derivative, squaring, and a centred moving-window integration of 150 ms;
 *  4. peaks of the integrated signal at least 200 ms apart (the refractory period) are classified
 *     with the two adaptive threshold pairs of the paper, one on the integrated signal (I) and one
 *     on the band-passed signal (F): SPK = 0.125·PEAK + 0.875·SPK for signal peaks, the same for
 *     noise peaks NPK, THRESHOLD1 = NPK + 0.25·(SPK − NPK), THRESHOLD2 = 0.5·THRESHOLD1, both
 *     first thresholds halved while the rhythm is irregular (last RR outside 92-116 % of RR
 *     AVERAGE2);
 *  5. a candidate within 360 ms of the previous QRS whose steepest slope is under half that of the
 *     previous QRS is taken for a T wave;
 *  6. when no QRS has been found for 166 % of RR AVERAGE2, the largest peak since the last QRS
 *     that clears the second thresholds is taken (searchback, SPK = 0.25·PEAK + 0.75·SPK);
 *  7. if nothing at all has been found for a long time (an artefact in the learning window, a
 *     change of lead), the signal levels are learned again from the last two seconds;
 *  8. each QRS is placed on the R peak of the band-passed signal. The lead's polarity is decided by
 *     a vote over all beats (so inverted leads and leads with a dominant S wave work), but a beat
 *     whose opposite deflection is more than twice as large (an ectopic beat of another axis) is
 *     placed on that deflection.
 *
 * Wide band. Some recordings carry the QRS far above 15 Hz, where the classic band leaves P and T
 * waves as tall as the QRS: PhysioNet v102s stores tall R waves that overflowed its 12-bit
 * converter, so each QRS is a burst alternating almost sample by sample, and in lead V the slopes
 * exceed half the converter's range per sample, so unwrapping (step 1, see prepare in dsp.ts)
 * cannot restore it everywhere. So by default ('auto') the same detector also runs on a wide band
 * (5 Hz high-pass only, first difference, which passes everything up to Nyquist); its beats, placed
 * on the extremum of that high-passed signal, replace the classic ones only when they stand out at
 * least twice as well from the other peaks of their own integrated signal (median signal peak over
 * median noise peak). On ordinary ECG the classic band is kept: it places R most precisely, and its
 * 15 Hz low-pass is what keeps muscle noise and mains hum out.
 */
import { argmax, butterHighpass, butterLowpass, derivative, filtfilt, localMaxima, MAX_BRIDGE_MS, movingAverage, positive, prepare } from './dsp.js';

export interface RPeakOptions {
  /** High-pass corner of the band-pass, Hz (default 5). */
  lowHz?: number;
  /** Low-pass corner of the classic band, Hz (default 15). */
  highHz?: number;
  /**
   * 'qrs': the classic Pan–Tompkins band only; 'wide': high-pass only; 'auto' (default): both,
   * the wide band's beats kept only when they stand out at least twice as well (see above).
   */
  band?: 'auto' | 'qrs' | 'wide';
  /** Moving-window integration width, ms (default 150). */
  integrationMs?: number;
  /** Refractory period: no two QRS closer than this, ms (default 200). */
  refractoryMs?: number;
  /** Candidates closer than this to the previous QRS get the T-wave slope test, ms (default 360). */
  tWaveMs?: number;
  /** Search back for a missed beat after 166 % of the average RR (default true). */
  searchback?: boolean;
  /** Learning phase used to initialise the thresholds, s (default 2). */
  learningSeconds?: number;
  /**
   * Undo ADC wrap-around first: a step of more than half the signal's range between two
   * consecutive samples is taken for a wrap (see prepare in dsp.ts). Default true.
   */
  unwrap?: boolean;
}

/** Mean of the last (up to) eight values. */
class RrAverage {
  private readonly values: number[] = [];
  push(v: number): void {
    this.values.push(v);
    if (this.values.length > 8) this.values.shift();
  }
  get count(): number {
    return this.values.length;
  }
  mean(fallback: number): number {
    if (this.values.length === 0) return fallback;
    let s = 0;
    for (const v of this.values) s += v;
    return s / this.values.length;
  }
  replaceWith(other: RrAverage): void {
    this.values.length = 0;
    this.values.push(...other.values);
  }
}

/** The signals one detection pass works on. */
interface Features {
  /** Filtered ECG: the F thresholds and the R-peak position. */
  filt: Float64Array;
  /** Its derivative: the T-wave slope test. */
  d: Float64Array;
  /** Moving-window integral of the squared derivative. */
  mwi: Float64Array;
}

interface Pass {
  /** QRS positions (peaks of the integrated signal), ascending. */
  qrs: number[];
  /** Median integrated height of the QRS over that of the remaining peaks (Infinity if none). */
  separation: number;
}

interface Timing {
  fs: number;
  integration: number;
  refractory: number;
  tWave: number;
  learnEnd: number;
  searchback: boolean;
}

/** How many times better the wide band's separation must be to be used instead of the classic band. */
const WIDE_BAND_MARGIN = 2;

function checkRate(fs: number): void {
  if (typeof fs !== 'number' || !Number.isFinite(fs) || fs <= 0) throw new RangeError(`sampling rate must be a positive number of Hz (got ${String(fs)})`);
}

function median(v: number[]): number {
  if (v.length === 0) return NaN;
  const s = v.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function features(x: Float64Array, fs: number, wide: boolean, lowHz: number, highHz: number, integration: number): Features {
  const n = x.length;
  let filt: Float64Array;
  let d: Float64Array;
  if (wide) {
    filt = filtfilt([butterHighpass(lowHz, fs)], x, Math.round(fs));
    d = new Float64Array(n);
    for (let i = 1; i < n; i++) d[i] = filt[i]! - filt[i - 1]!;
  } else {
    filt = filtfilt([butterHighpass(lowHz, fs), butterLowpass(highHz, fs)], x, Math.round(fs));
    d = derivative(filt);
  }
  return { filt, d, mwi: movingAverage(d, integration, true) };
}

/** Extent of the QRS around a peak of the (centred) integrated signal. */
function qrsWindow(p: number, t: Timing): [number, number] {
  const reach = Math.ceil(t.integration / 2) + Math.max(1, Math.round(0.025 * t.fs));
  return [p - reach, p + reach];
}

/** The Pan–Tompkins decision rules over the peaks of one feature set. */
function panTompkins(f: Features, t: Timing): Pass {
  const { filt, d, mwi } = f;
  const n = mwi.length;
  const fs = t.fs;
  const peaks = localMaxima(mwi, t.refractory);
  if (peaks.length === 0) return { qrs: [], separation: 0 };
  const half = Math.ceil(t.integration / 2);

  // Per-peak band-passed amplitude and slope, computed once.
  const peakF = new Map<number, number>();
  const slopeAt = new Map<number, number>();
  for (const p of peaks) {
    const [a, b] = qrsWindow(p, t);
    let m = 0;
    for (let i = Math.max(0, a); i <= Math.min(n - 1, b); i++) m = Math.max(m, Math.abs(filt[i]!));
    peakF.set(p, m);
    let s = 0;
    for (let i = Math.max(0, p - half); i <= Math.min(n - 1, p + half); i++) s = Math.max(s, Math.abs(d[i]!));
    slopeAt.set(p, s);
  }
  const pf = (p: number): number => peakF.get(p)!;

  // Learning phase: signal levels from the largest values of the first seconds, noise from the mean.
  const learn = (from: number, to: number): { i: number; f: number; meanI: number; meanF: number } => {
    let i = 0;
    let fm = 0;
    let si = 0;
    let sf = 0;
    const a = Math.max(0, from);
    const b = Math.min(n, to);
    for (let k = a; k < b; k++) {
      if (mwi[k]! > i) i = mwi[k]!;
      const ab = Math.abs(filt[k]!);
      if (ab > fm) fm = ab;
      si += mwi[k]!;
      sf += ab;
    }
    const len = Math.max(1, b - a);
    return { i, f: fm, meanI: si / len, meanF: sf / len };
  };
  const l0 = learn(0, t.learnEnd);
  let spki = l0.i / 3;
  let npki = l0.meanI / 2;
  let spkf = l0.f / 3;
  let npkf = l0.meanF / 2;

  const rr1 = new RrAverage();
  const rr2 = new RrAverage();
  let irregularRun = 0;
  let irregular = false;
  const defaultRr = fs; // 60 beats/min until the beats say otherwise
  const rrAverage2 = (): number => rr2.mean(rr1.mean(defaultRr));

  const qrs: number[] = [];
  let lastQrs = -Infinity;
  let lastSlope = 0;
  let lastLearn = 0;
  /** Peaks since the last QRS that were not taken (searchback candidates). */
  let pending: number[] = [];

  const thresholds = (): { i1: number; i2: number; f1: number; f2: number } => {
    let i1 = npki + 0.25 * (spki - npki);
    let f1 = npkf + 0.25 * (spkf - npkf);
    if (irregular) {
      i1 *= 0.5;
      f1 *= 0.5;
    }
    return { i1, i2: 0.5 * i1, f1, f2: 0.5 * f1 };
  };

  const isTWave = (p: number): boolean => qrs.length > 0 && p - lastQrs < t.tWave && slopeAt.get(p)! < 0.5 * lastSlope;

  const accept = (p: number, searched: boolean): void => {
    const k = searched ? 0.25 : 0.125;
    spki = k * mwi[p]! + (1 - k) * spki;
    spkf = k * pf(p) + (1 - k) * spkf;
    if (qrs.length > 0) {
      const rr = p - lastQrs;
      rr1.push(rr);
      const avg2 = rrAverage2();
      if (rr2.count === 0 || (rr >= 0.92 * avg2 && rr <= 1.16 * avg2)) {
        rr2.push(rr);
        irregularRun = 0;
        irregular = false;
      } else {
        irregular = true;
        // Eight irregular beats in a row: the rhythm has changed, follow it.
        if (++irregularRun >= 8) {
          rr2.replaceWith(rr1);
          irregularRun = 0;
        }
      }
    }
    qrs.push(p);
    lastQrs = p;
    lastSlope = slopeAt.get(p)!;
    pending = [];
  };

  const noise = (p: number): void => {
    npki = 0.125 * mwi[p]! + 0.875 * npki;
    npkf = 0.125 * pf(p) + 0.875 * npkf;
  };

  /** Searchback before `upTo`: while a beat is overdue, take the largest overlooked peak. */
  const searchBack = (upTo: number): void => {
    if (!t.searchback || qrs.length === 0) return;
    while (upTo - lastQrs > 1.66 * rrAverage2()) {
      const th = thresholds();
      let best = -1;
      for (const c of pending) {
        if (c - lastQrs < t.refractory || upTo - c < t.refractory) continue;
        if (mwi[c]! < th.i2 || pf(c) < th.f2 || isTWave(c)) continue;
        if (best < 0 || mwi[c]! > mwi[best]!) best = c;
      }
      if (best < 0) return;
      const rest = pending.filter((c) => c > best);
      accept(best, true);
      pending = rest;
    }
  };

  for (const p of peaks) {
    searchBack(p);
    // Lost: nothing found for a long time, so the levels no longer fit the signal; learn them again.
    const since = Math.max(qrs.length ? lastQrs : 0, lastLearn);
    if (p - since > Math.max(3 * fs, 2.5 * rrAverage2())) {
      const l = learn(p - Math.round(2 * fs), p + 1);
      spki = l.i / 3;
      spkf = l.f / 3;
      npki = Math.min(npki, l.meanI / 2);
      npkf = Math.min(npkf, l.meanF / 2);
      lastLearn = p;
    }
    if (p - lastQrs < t.refractory) continue;
    const th = thresholds();
    if (mwi[p]! >= th.i1 && pf(p) >= th.f1 && !isTWave(p)) {
      accept(p, false);
    } else {
      noise(p);
      pending.push(p);
      // A beat missed long ago is not worth finding; this keeps a QRS-free stretch linear.
      if (pending.length > 64) pending.shift();
    }
  }
  searchBack(n);

  const taken = new Set(qrs);
  const signalHeights = qrs.map((p) => mwi[p]!);
  const noiseHeights = peaks.filter((p) => !taken.has(p)).map((p) => mwi[p]!);
  const sig = median(signalHeights);
  const noi = median(noiseHeights);
  const separation = qrs.length < 2 ? 0 : noiseHeights.length === 0 || !(noi > 0) ? Infinity : sig / noi;
  return { qrs, separation };
}

/** Puts each QRS on its R peak (see 8. above); strictly ascending. */
function placeOnR(qrs: number[], filt: Float64Array, t: Timing): number[] {
  let vote = 0;
  for (const p of qrs) {
    const [a, b] = qrsWindow(p, t);
    const hi = filt[argmax(filt, a, b, 1)]!;
    const lo = -filt[argmax(filt, a, b, -1)]!;
    vote += hi >= lo ? 1 : -1;
  }
  const sign = vote >= 0 ? 1 : -1;
  const out: number[] = [];
  for (const p of qrs) {
    const [a, b] = qrsWindow(p, t);
    const main = argmax(filt, a, b, sign);
    const other = argmax(filt, a, b, -sign);
    const r = -sign * filt[other]! > 2 * sign * filt[main]! ? other : main;
    if (out.length === 0 || r > out[out.length - 1]!) out.push(r);
  }
  return out;
}

/**
 * Detects the R peaks of one ECG lead. `signal` is in physical units (mV; NaN marks an invalid
 * sample), `fs` its sampling rate in Hz. Returns the sample indices of the R peaks, strictly
 * ascending, each in [0, signal.length) and on a valid sample or within an invalid stretch of at
 * most 50 ms (a longer stretch is bridged for filtering but holds no beat). Never throws for any signal
 * content; throws RangeError only for a sampling rate that is not a positive number.
 */
export function detectRPeaks(signal: Float64Array, fs: number, options: RPeakOptions = {}): number[] {
  checkRate(fs);
  const n = signal.length;
  const ms = (v: number): number => Math.max(1, Math.round((v * fs) / 1000));
  const integration = ms(positive(options.integrationMs, 150));
  if (n < Math.max(5, integration)) return [];
  const prep = prepare(signal, options.unwrap ?? true, ms(MAX_BRIDGE_MS));
  if (prep === null) return [];
  const t: Timing = {
    fs,
    integration,
    refractory: ms(positive(options.refractoryMs, 200)),
    tWave: ms(positive(options.tWaveMs, 360)),
    learnEnd: Math.min(n, Math.max(integration, Math.round(positive(options.learningSeconds, 2) * fs))),
    searchback: options.searchback ?? true,
  };
  const lowHz = positive(options.lowHz, 5);
  const highHz = positive(options.highHz, 15);
  const band = options.band ?? 'auto';

  // The wide band must do clearly better to replace the classic one (see above).
  let best: { pass: Pass; filt: Float64Array } | undefined;
  if (band !== 'wide') {
    const f = features(prep.x, fs, false, lowHz, highHz, integration);
    best = { pass: panTompkins(f, t), filt: f.filt };
  }
  if (band !== 'qrs') {
    const f = features(prep.x, fs, true, lowHz, highHz, integration);
    const pass = panTompkins(f, t);
    if (best === undefined || pass.separation > WIDE_BAND_MARGIN * best.pass.separation) best = { pass, filt: f.filt };
  }
  return placeOnR(best!.pass.qrs, best!.filt, t).filter((r) => prep.trusted[r] === 1);
}
