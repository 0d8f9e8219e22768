/**
 * Small signal-processing helpers shared by the beat detectors: invalid-sample repair, biquad
 * Butterworth sections designed from the sampling rate, zero-phase (forward-backward) filtering,
 * centred moving sums and a derivative. Everything works on Float64Array and never allocates per
 * sample, so a 30-minute record at 360 Hz takes a few milliseconds per pass.
 */

/** One second-order section, normalised so that a0 = 1 (direct form II transposed). */
export interface Biquad {
  b0: number;
  b1: number;
  b2: number;
  a1: number;
  a2: number;
}

const SQRT1_2 = Math.SQRT1_2;

/** An option's value when it is a positive finite number, else its default. */
export function positive(v: number | undefined, fallback: number): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : fallback;
}

/** Keeps a corner frequency strictly inside (0, Nyquist) so a design never degenerates. */
function clampCorner(f: number, fs: number): number {
  return Math.min(Math.max(f, fs * 1e-4), fs * 0.45);
}

/**
 * Second-order Butterworth low-pass (Q = 1/√2) by the bilinear transform with pre-warping, so the
 * -3 dB point lands on `f` at any sampling rate.
 */
export function butterLowpass(f: number, fs: number): Biquad {
  const w0 = (2 * Math.PI * clampCorner(f, fs)) / fs;
  const cos = Math.cos(w0);
  const alpha = Math.sin(w0) / (2 * SQRT1_2);
  const a0 = 1 + alpha;
  return { b0: (1 - cos) / 2 / a0, b1: (1 - cos) / a0, b2: (1 - cos) / 2 / a0, a1: (-2 * cos) / a0, a2: (1 - alpha) / a0 };
}

/** Second-order Butterworth high-pass (Q = 1/√2), bilinear transform with pre-warping. */
export function butterHighpass(f: number, fs: number): Biquad {
  const w0 = (2 * Math.PI * clampCorner(f, fs)) / fs;
  const cos = Math.cos(w0);
  const alpha = Math.sin(w0) / (2 * SQRT1_2);
  const a0 = 1 + alpha;
  return { b0: (1 + cos) / 2 / a0, b1: -(1 + cos) / a0, b2: (1 + cos) / 2 / a0, a1: (-2 * cos) / a0, a2: (1 - alpha) / a0 };
}

/** Filters `x` in place through one section, starting from the steady state for the constant x[0]. */
function biquadInPlace(s: Biquad, x: Float64Array): void {
  const { b0, b1, b2, a1, a2 } = s;
  const n = x.length;
  if (n === 0) return;
  // Steady state for a constant input u: y = H(1)·u; z2 = b2·u − a2·y; z1 = b1·u − a1·y + z2.
  const u = x[0]!;
  const dc = (b0 + b1 + b2) / (1 + a1 + a2);
  const yss = dc * u;
  let z2 = b2 * u - a2 * yss;
  let z1 = b1 * u - a1 * yss + z2;
  for (let i = 0; i < n; i++) {
    const xi = x[i]!;
    const y = b0 * xi + z1;
    z1 = b1 * xi - a1 * y + z2;
    z2 = b2 * xi - a2 * y;
    x[i] = y;
  }
}

function reverseInPlace(x: Float64Array): void {
  for (let i = 0, j = x.length - 1; i < j; i++, j--) {
    const t = x[i]!;
    x[i] = x[j]!;
    x[j] = t;
  }
}

/**
 * Zero-phase filtering through a cascade of sections: forward, then backward (the magnitude
 * response is squared, the phase cancels, so peaks stay where they are). The ends are extended by
 * odd reflection (`padSamples`, capped at n − 1) so the start-up transients fall outside the signal.
 */
export function filtfilt(sections: readonly Biquad[], x: Float64Array, padSamples: number): Float64Array {
  const n = x.length;
  if (n === 0) return new Float64Array(0);
  const pad = Math.max(0, Math.min(n - 1, Math.floor(padSamples)));
  const ext = new Float64Array(n + 2 * pad);
  const first = x[0]!;
  const last = x[n - 1]!;
  for (let i = 0; i < pad; i++) ext[i] = 2 * first - x[pad - i]!;
  ext.set(x, pad);
  for (let i = 0; i < pad; i++) ext[pad + n + i] = 2 * last - x[n - 2 - i]!;
  for (const s of sections) biquadInPlace(s, ext);
  reverseInPlace(ext);
  for (const s of sections) biquadInPlace(s, ext);
  reverseInPlace(ext);
  return pad === 0 ? ext : ext.subarray(pad, pad + n);
}

/** Longest invalid stretch, ms, inside which a beat may still be placed (see Prepared.trusted). */
export const MAX_BRIDGE_MS = 50;

/** The input with its invalid samples repaired, or null when there is nothing usable. */
export interface Prepared {
  /** Finite everywhere, |x| ≤ 2, shifted so that the first valid sample is 0. */
  x: Float64Array;
  /**
   * 1 where a beat may be placed: the input sample was finite, or it lies in an invalid stretch
   * of at most `maxBridge` samples, short enough for the interpolation to be trusted.
   */
  trusted: Uint8Array;
}

/**
 * Scales the signal by its largest finite |sample| (so that squaring can never overflow, whatever
 * the units) and replaces non-finite samples (NaN marks an invalid sample; ±Infinity is treated
 * the same) by linear interpolation between the nearest valid neighbours, holding the first/last
 * valid value at the ends. Beats may be placed inside an interpolated stretch of at most
 * `maxBridge` samples, not inside a longer one (see Prepared.trusted).
 *
 * With `unwrap`, a step between consecutive valid samples larger than half the signal's range is
 * taken for an ADC wrap-around (a value that overflowed the converter's range and came back from
 * the other end, as in PhysioNet v102s, whose tall R waves and drifting baseline wrap the 12-bit
 * range) and undone by shifting the rest of the signal by the range, as phase unwrapping does.
 * No physiological signal sampled at 125 Hz or more moves by half its whole range in one sample;
 * a one-sample glitch or an electrode-pop step of that size is flattened by the same rule, which
 * only helps beat detection.
 *
 * Returns null when no sample is finite or every finite sample is equal (a flat line has no beats).
 */
export function prepare(signal: ArrayLike<number>, unwrap = false, maxBridge = 0): Prepared | null {
  const n = signal.length;
  const valid = new Uint8Array(n);
  let maxAbs = 0;
  let firstValid = -1;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = signal[i]!;
    if (typeof v === 'number' && Number.isFinite(v)) {
      valid[i] = 1;
      if (firstValid < 0) firstValid = i;
      const a = Math.abs(v);
      if (a > maxAbs) maxAbs = a;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  if (firstValid < 0 || !(hi > lo) || !(maxAbs > 0)) return null;
  const x = new Float64Array(n);
  // Scale first (no subtraction can overflow), then shift: a constant stretch becomes exactly 0.
  const offset = signal[firstValid]! / maxAbs;
  for (let i = 0; i < n; i++) if (valid[i]) x[i] = signal[i]! / maxAbs - offset;
  if (unwrap) unwrapInPlace(x, valid, hi / maxAbs - lo / maxAbs);
  // Bridge the invalid stretches.
  let prev = -1;
  for (let i = 0; i < n; i++) {
    if (!valid[i]) continue;
    const v = x[i]!;
    if (prev < 0) {
      for (let k = 0; k < i; k++) x[k] = v;
    } else if (i - prev > 1) {
      const a = x[prev]!;
      const step = (v - a) / (i - prev);
      for (let k = prev + 1; k < i; k++) x[k] = a + step * (k - prev);
    }
    prev = i;
  }
  for (let k = prev + 1; k < n; k++) x[k] = x[prev]!;
  // Trust short bridges (a dropped sample or two), not long ones nor the held ends.
  const trusted = valid; // updated in place, behind the scan
  let gapStart = -1;
  for (let i = 0; i <= n; i++) {
    if (i < n && !valid[i]) {
      if (gapStart < 0) gapStart = i;
    } else if (gapStart >= 0) {
      if (gapStart > 0 && i < n && i - gapStart <= maxBridge) trusted.fill(1, gapStart, i);
      gapStart = -1;
    }
  }
  return { x, trusted };
}

/**
 * Undoes wrap-around (see prepare) over the valid samples of x: a step between consecutive valid
 * samples larger than half of `range` is removed by shifting everything after it by the wrap
 * span, estimated as the range plus one quantisation step (the smallest non-zero step).
 */
function unwrapInPlace(x: Float64Array, valid: Uint8Array, range: number): void {
  const n = x.length;
  if (!(range > 0)) return;
  let wraps = false;
  let quantum = Infinity;
  let prev = NaN;
  for (let i = 0; i < n; i++) {
    if (!valid[i]) continue;
    const step = Math.abs(x[i]! - prev);
    if (step > range / 2) wraps = true;
    if (step > 0 && step < quantum) quantum = step;
    prev = x[i]!;
  }
  if (!wraps) return;
  const span = range + (quantum < range ? quantum : 0);
  let offset = 0;
  let m = 0;
  prev = NaN;
  for (let i = 0; i < n; i++) {
    if (!valid[i]) continue;
    const raw = x[i]!;
    const step = raw - prev;
    if (step > range / 2) offset -= span;
    else if (step < -range / 2) offset += span;
    prev = raw;
    x[i] = raw + offset;
    m = Math.max(m, Math.abs(x[i]!));
  }
  // Keep |x| ≤ 2 (the drift of many wraps can leave it).
  if (m > 2) for (let i = 0; i < n; i++) x[i] = x[i]! / m;
}

/**
 * Centred moving average over `width` samples of x (or of x² with `square`): out[i] = mean over
 * x[i − ⌊(w−1)/2⌋ … i + ⌈(w−1)/2⌉], the window shrinking (and the divisor staying `width`) at the
 * ends. Prefix sums, so exact enough and drift-free.
 */
export function movingAverage(x: Float64Array, width: number, square = false): Float64Array {
  const n = x.length;
  const w = Math.max(1, Math.round(width));
  const before = Math.floor((w - 1) / 2);
  const after = w - 1 - before;
  const cs = new Float64Array(n + 1);
  if (square) for (let i = 0; i < n; i++) cs[i + 1] = cs[i]! + x[i]! * x[i]!;
  else for (let i = 0; i < n; i++) cs[i + 1] = cs[i]! + x[i]!;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const a = i > before ? i - before : 0;
    const b = i + after + 1 < n ? i + after + 1 : n;
    out[i] = (cs[b]! - cs[a]!) / w;
  }
  return out;
}

/**
 * Five-point derivative (the Pan–Tompkins kernel made central): d[i] = (2(x[i+1] − x[i−1]) +
 * x[i+2] − x[i−2]) / 8, in units per sample; 0 at the two samples of each end.
 */
export function derivative(x: Float64Array): Float64Array {
  const n = x.length;
  const d = new Float64Array(n);
  for (let i = 2; i < n - 2; i++) d[i] = (2 * (x[i + 1]! - x[i - 1]!) + x[i + 2]! - x[i - 2]!) / 8;
  return d;
}

/** Index of the largest value of x[from..to] (inclusive, clamped), scaled by `sign`. */
export function argmax(x: Float64Array, from: number, to: number, sign = 1): number {
  const a = Math.max(0, from);
  const b = Math.min(x.length - 1, to);
  let best = a;
  let bv = -Infinity;
  for (let i = a; i <= b; i++) {
    const v = sign * x[i]!;
    if (v > bv) {
      bv = v;
      best = i;
    }
  }
  return best;
}

/** Index of the largest |x| over x[from..to] (inclusive, clamped). */
export function argmaxAbs(x: Float64Array, from: number, to: number): number {
  const a = Math.max(0, from);
  const b = Math.min(x.length - 1, to);
  let best = a;
  let bv = -Infinity;
  for (let i = a; i <= b; i++) {
    const v = Math.abs(x[i]!);
    if (v > bv) {
      bv = v;
      best = i;
    }
  }
  return best;
}

/**
 * Local maxima of x (strictly above the left neighbour, at least the right one, so a plateau
 * counts once) that are also the highest value within `minDistance` − 1 samples either side;
 * of equal maxima closer than `minDistance` the first is kept. Returned ascending; no two are
 * closer than `minDistance`. The highest value of a window is at one of its ends or at a local
 * maximum inside it, so only those are compared: no allocation proportional to the signal.
 */
export function localMaxima(x: Float64Array, minDistance: number): number[] {
  const n = x.length;
  const d = Math.max(1, Math.floor(minDistance));
  const cand: number[] = [];
  for (let i = 1; i < n - 1; i++) {
    const v = x[i]!;
    if (v > x[i - 1]! && v >= x[i + 1]!) cand.push(i);
  }
  if (d === 1) return cand;
  const keep: number[] = [];
  let lo = 0;
  let hi = 0;
  for (let k = 0; k < cand.length; k++) {
    const p = cand[k]!;
    const v = x[p]!;
    const a = Math.max(0, p - d + 1);
    const b = Math.min(n - 1, p + d - 1);
    if (x[a]! > v || x[b]! > v) continue;
    while (cand[lo]! < a) lo++;
    if (hi < k) hi = k;
    while (hi + 1 < cand.length && cand[hi + 1]! <= b) hi++;
    let top = true;
    for (let j = lo; j <= hi && top; j++) if (x[cand[j]!]! > v) top = false;
    if (!top) continue;
    if (keep.length > 0 && p - keep[keep.length - 1]! < d) continue;
    keep.push(p);
  }
  return keep;
}
