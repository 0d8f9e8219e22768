/**
 * PPG (photoplethysmogram) pulse detection, for inter-pulse intervals that line up with ECG RR.
 *
 * Pulses are found with the two-moving-averages method of Elgendi et al. (PLoS ONE 8(10):e76585,
 * 2013): band-pass 0.5-8 Hz (second-order Butterworth sections designed from fs, zero phase),
 * keep the positive part and square it, then mark "blocks of interest" where a 111 ms moving
 * average exceeds a 667 ms one plus a small offset (2 % of the mean); every block at least 111 ms
 * wide holds one systolic peak.
 *
 * Each pulse is then reported at one fiducial point of its upstroke, found between the lowest point
 * before the systolic peak (at most 800 ms back, never before the previous peak) and the peak. The
 * choice matters for the key backup, because inter-pulse intervals (IPIs) must track the ECG RR
 * intervals beat by beat:
 *  - 'peak', the systolic peak, is broad and rounded, and its timing moves with wave reflection
 *    and vascular tone: it jitters most;
 *  - 'maxSlope', the steepest point of the upstroke (largest first derivative), is a sharp
 *    extremum, but the derivative peak is flat-topped in a smooth upstroke, so noise moves it;
 *  - 'foot', by intersecting tangents: the tangent at the steepest point meets the horizontal
 *    through the preceding minimum. It marks the arrival of the pressure wave, leans on the
 *    steepest (best-determined) part of the wave, and does not need the flat minimum's exact
 *    position, only its level.
 * Measured on PhysioNet v102s (PLETH against ECG II / V, 250 Hz, 519 beats; test/bsn-beats.test.ts):
 *    fiducial    std(pulse − R)     std(IPI − RR)
 *    foot        15.6 / 15.2 ms     14.1 / 13.9 ms
 *    maxSlope    16.2 / 15.4 ms     16.0 / 15.5 ms
 *    peak        21.4 / 21.9 ms     17.3 / 17.1 ms
 * (the two ECG leads themselves disagree by 8 ms std in RR on this record), so 'foot' is the
 * default; the others are options. Its foot comes 528 ms after the preceding R peak (45 ms before
 * the next one) on this record: a long delay, which the monitor's channel alignment must account
 * for, but a steady one.
 *
 * v102s also shows why ADC wrap-around is undone first (option `unwrap`, default on): its PLETH
 * overflows the 12-bit range on every upstroke; left wrapped, the wrap's edges pass for upstrokes,
 * only 491 of 519 beats find their pulse and std(pulse − R) doubles to 31 ms.
 */
import { argmax, butterHighpass, butterLowpass, derivative, filtfilt, MAX_BRIDGE_MS, movingAverage, positive, prepare } from './dsp.js';

export type PulseFiducial = 'maxSlope' | 'foot' | 'peak';

export interface PulseOptions {
  /** Which point of each pulse to report (default 'foot', see above). */
  fiducial?: PulseFiducial;
  /** High-pass corner, Hz (default 0.5). */
  lowHz?: number;
  /** Low-pass corner, Hz (default 8). */
  highHz?: number;
  /** Shortest inter-pulse interval accepted, ms (default 250, i.e. 240 pulses/min). */
  refractoryMs?: number;
  /**
   * Undo ADC wrap-around first: a step of more than half the signal's range between two
   * consecutive samples is taken for a wrap (see prepare in dsp.ts). Default true.
   */
  unwrap?: boolean;
}

/**
 * Detects the pulses of a PPG signal (any units; NaN marks an invalid sample) sampled at `fs` Hz.
 * Returns one sample index per pulse at the chosen fiducial point, strictly ascending, each in
 * [0, signal.length) and on a valid sample or within an invalid stretch of at most 50 ms. Never
 * throws for any signal content; throws RangeError only for a sampling rate that is not a positive
 * number.
 */
export function detectPulsePeaks(signal: Float64Array, fs: number, options: PulseOptions = {}): number[] {
  if (typeof fs !== 'number' || !Number.isFinite(fs) || fs <= 0) throw new RangeError(`sampling rate must be a positive number of Hz (got ${String(fs)})`);
  const n = signal.length;
  const ms = (v: number): number => Math.max(1, Math.round((v * fs) / 1000));
  const w1 = ms(111);
  const w2 = ms(667);
  if (n < Math.max(5, w1)) return [];
  const prep = prepare(signal, options.unwrap ?? true, ms(MAX_BRIDGE_MS));
  if (prep === null) return [];
  const bp = filtfilt([butterHighpass(positive(options.lowHz, 0.5), fs), butterLowpass(positive(options.highHz, 8), fs)], prep.x, Math.round(3 * fs));

  const y = new Float64Array(n);
  let mean = 0;
  for (let i = 0; i < n; i++) {
    const v = bp[i]! > 0 ? bp[i]! * bp[i]! : 0;
    y[i] = v;
    mean += v;
  }
  mean /= n;
  if (!(mean > 0)) return [];
  const maPeak = movingAverage(y, w1);
  const maBeat = movingAverage(y, w2);
  const offset = 0.02 * mean;

  // Systolic peaks: the maximum of each block of interest at least w1 wide.
  const systolic: number[] = [];
  let start = -1;
  for (let i = 0; i <= n; i++) {
    const inside = i < n && maPeak[i]! > maBeat[i]! + offset;
    if (inside && start < 0) start = i;
    else if (!inside && start >= 0) {
      if (i - start >= w1) systolic.push(argmax(bp, start, i - 1));
      start = -1;
    }
  }
  // Two blocks closer than the refractory period are one pulse: keep the taller.
  const refractory = ms(positive(options.refractoryMs, 250));
  const peaks: number[] = [];
  for (const p of systolic) {
    const last = peaks[peaks.length - 1];
    if (last !== undefined && p - last < refractory) {
      if (bp[p]! > bp[last]!) peaks[peaks.length - 1] = p;
    } else peaks.push(p);
  }

  const fiducial = options.fiducial ?? 'foot';
  if (fiducial === 'peak') return peaks.filter((p) => prep.trusted[p] === 1);
  const d = derivative(bp);
  const out: number[] = [];
  const lookBack = ms(800);
  let prev = -1;
  for (const p of peaks) {
    // The upstroke lies between the lowest point before this peak and the peak itself.
    const from = Math.max(prev + 1, p - lookBack);
    const foot = argmax(bp, from, p, -1);
    const steep = argmax(d, foot, p, 1);
    let at = steep;
    if (fiducial === 'foot') {
      const slope = d[steep]!;
      const t = slope > 0 ? steep - (bp[steep]! - bp[foot]!) / slope : foot;
      at = Math.round(Math.min(steep, Math.max(foot, t)));
    }
    if (prep.trusted[at] === 1 && (out.length === 0 || at > out[out.length - 1]!)) out.push(at);
    prev = p;
  }
  return out;
}
