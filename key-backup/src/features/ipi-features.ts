/**
 * Inter-pulse-interval (IPI) features for the BSN fuzzy vault.
 *
 * Input: the beat times (seconds, one clock) that one sensor saw: ECG R peaks or PPG pulse
 * fiducials. Output, for a time window [start, start + seconds): the ordered IPI residuals that
 * the vault quantises into GF(2^16) elements.
 *
 * Why these features make two sensors on one body agree:
 * - Every sensor on one body sees the same heart, so the same sequence of beats. The ECG R peak
 *   and the PPG pulse of a beat differ by the pulse transit time (PTT, ~150–350 ms), which is
 *   almost constant from one beat to the next, and it cancels in a difference of two beat times.
 *   What is left is fiducial jitter: a sample or two on an ECG lead (2–4 ms at 250–500 Hz), and
 *   the beat-to-beat change of PTT plus the softer PPG fiducial on a pulse oximeter (~5–15 ms).
 * - Within a window, IPIs are numbered by ordinal (first interval, second, …). Two sensors number
 *   the same beats the same way up to a constant offset (a PPG pulse of a beat just before the
 *   window start falls inside it). The vault decoder tries small ordinal offsets, so the offset
 *   need not be known; see fuzzy-vault.ts.
 * - A missed or doubled beat would shift every later ordinal. Artefact correction keeps the
 *   numbering: an interval longer than 1.6× the window median is split into equal parts (a missed
 *   beat), and one shorter than 0.5× is merged with the neighbour that brings it closest to the
 *   median (an extra detection). Such slots then disagree, which the decoder tolerates.
 *
 * Why different people disagree:
 * - The heart-rate baseline (the median IPI of the window) is shared by many people, so it is
 *   removed: the feature is the residual IPI − median(IPI) of the window. What is left is the
 *   person's heart-rate variability in that minute: respiratory sinus arrhythmia (HF, with their
 *   own breathing), Mayer waves (LF, ~0.1 Hz, baroreflex) and beat-to-beat noise. Its phase and
 *   shape at a given moment are not shared between people, nor by the same person a few minutes
 *   later, so an impostor's residuals (or a stale recording's) fall into the same tolerance cell
 *   only by chance, with probability about (cell width)/(spread of residuals) per slot.
 * - The limit, stated plainly: residuals concentrate around 0 with a spread of tens of ms, so a
 *   feature carries far fewer bits than its 10-bit encoding (see docs/key-backup.md, where the
 *   attack that guesses "every residual is 0" is measured).
 *
 * Quantisation (done by the vault, which owns the parameters): residual r (ms) → value
 * v = round(r / resolutionMs) + 2^(valueBits−1), clamped to 0…2^valueBits − 1; the field element
 * for ordinal j is x = j · 2^valueBits + v (slot bits ‖ value bits). With the defaults (7 + 9
 * bits, 1 ms) that is up to 128 IPIs per window, residuals within ±256 ms (larger ones, from
 * ectopic beats, are clamped, on both sensors alike).
 */
import { median } from './stats.js';

export interface BeatWindow {
  /** Window start, seconds, on the same clock as the beat times. */
  startSeconds: number;
  /** Window length, seconds. */
  seconds: number;
}

export interface IpiFeatureOptions {
  /** Split intervals longer than this multiple of the window median (missed beats). Default 1.6. */
  splitAbove?: number;
  /** Merge intervals shorter than this multiple of the window median (extra detections). Default 0.5. */
  mergeBelow?: number;
}

export interface IpiFeatures {
  window: BeatWindow;
  /** Beats that fell inside the window. */
  beats: number;
  /** IPIs in ordinal order (ms), after artefact correction. */
  ipisMs: number[];
  /** The window's heart-rate baseline: median IPI (ms). */
  baselineMs: number;
  /** The features: ipisMs[j] − baselineMs, unquantised (ms). */
  residualsMs: number[];
  /** How many intervals artefact correction split or merged. */
  corrected: number;
}

export const DEFAULT_SPLIT_ABOVE = 1.6;
export const DEFAULT_MERGE_BELOW = 0.5;


function checkWindow(w: BeatWindow): void {
  if (!Number.isFinite(w.startSeconds)) throw new RangeError(`window start must be finite, got ${w.startSeconds}`);
  if (!(Number.isFinite(w.seconds) && w.seconds > 0)) throw new RangeError(`window length must be > 0 s, got ${w.seconds}`);
}

/** Beats inside [start, start + seconds), sorted, de-duplicated, non-finite values dropped. */
export function beatsInWindow(beatTimesSeconds: ArrayLike<number>, window: BeatWindow): number[] {
  checkWindow(window);
  const end = window.startSeconds + window.seconds;
  const out: number[] = [];
  for (let i = 0; i < beatTimesSeconds.length; i++) {
    const t = beatTimesSeconds[i]!;
    if (Number.isFinite(t) && t >= window.startSeconds && t < end) out.push(t);
  }
  out.sort((a, b) => a - b);
  return out.filter((t, i) => i === 0 || t > out[i - 1]!);
}

/** Artefact correction of an IPI series (ms): see the file comment. Returns the series and the number of fixes. */
export function correctIpis(ipisMs: readonly number[], opts: IpiFeatureOptions = {}): { ipisMs: number[]; corrected: number } {
  const splitAbove = opts.splitAbove ?? DEFAULT_SPLIT_ABOVE;
  const mergeBelow = opts.mergeBelow ?? DEFAULT_MERGE_BELOW;
  const med = median(ipisMs);
  if (!(med > 0)) return { ipisMs: [...ipisMs], corrected: 0 };
  let corrected = 0;
  // Merge extra detections first (a doubled beat makes two short intervals that sum to one).
  const merged: number[] = [...ipisMs];
  for (let i = 0; i < merged.length; ) {
    const v = merged[i]!;
    if (v < mergeBelow * med && merged.length > 1) {
      const prev = i > 0 ? merged[i - 1]! + v : Number.POSITIVE_INFINITY;
      const next = i + 1 < merged.length ? v + merged[i + 1]! : Number.POSITIVE_INFINITY;
      if (Math.abs(prev - med) <= Math.abs(next - med)) {
        merged.splice(i - 1, 2, prev);
        i = Math.max(0, i - 1);
      } else {
        merged.splice(i, 2, next);
      }
      corrected++;
      continue;
    }
    i++;
  }
  const out: number[] = [];
  for (const v of merged) {
    if (v > splitAbove * med) {
      const parts = Math.max(2, Math.round(v / med));
      for (let p = 0; p < parts; p++) out.push(v / parts);
      corrected++;
    } else {
      out.push(v);
    }
  }
  return { ipisMs: out, corrected };
}

/**
 * The features of one sensor over one window: IPIs between consecutive beats inside the window,
 * artefact-corrected, minus their median. Fewer than 2 beats gives no features.
 */
export function featuresFromBeats(beatTimesSeconds: ArrayLike<number>, window: BeatWindow, opts: IpiFeatureOptions = {}): IpiFeatures {
  const beats = beatsInWindow(beatTimesSeconds, window);
  const raw: number[] = [];
  for (let i = 1; i < beats.length; i++) raw.push((beats[i]! - beats[i - 1]!) * 1000);
  const { ipisMs, corrected } = correctIpis(raw, opts);
  const baselineMs = ipisMs.length ? median(ipisMs) : Number.NaN;
  return {
    window: { startSeconds: window.startSeconds, seconds: window.seconds },
    beats: beats.length,
    ipisMs,
    baselineMs,
    residualsMs: ipisMs.map((v) => v - baselineMs),
    corrected,
  };
}

/** Quantisation of a residual into the value bits of a feature element. */
export interface QuantiserParams {
  /** Bits for the ordinal of the IPI in its window (2^slotBits IPIs at most). */
  slotBits: number;
  /** Bits for the quantised residual; slotBits + valueBits = 16. */
  valueBits: number;
  /** Milliseconds per quantisation step. */
  resolutionMs: number;
}

/** The residual in (fractional) value steps, before rounding: v = r / resolution + 2^(valueBits−1), clamped. */
export function residualToValue(residualMs: number, q: QuantiserParams): number {
  const top = (1 << q.valueBits) - 1;
  const v = residualMs / q.resolutionMs + (1 << (q.valueBits - 1));
  return Number.isFinite(v) ? Math.min(top, Math.max(0, v)) : 1 << (q.valueBits - 1);
}

/** The quantised value of a residual: an integer in 0…2^valueBits − 1. */
export function quantiseResidual(residualMs: number, q: QuantiserParams): number {
  return Math.round(residualToValue(residualMs, q));
}

/** x = slot ‖ value. */
export function featureElement(slot: number, value: number, q: QuantiserParams): number {
  return slot * (1 << q.valueBits) + value;
}

export function elementSlot(x: number, q: QuantiserParams): number {
  return Math.floor(x / (1 << q.valueBits));
}

export function elementValue(x: number, q: QuantiserParams): number {
  return x & ((1 << q.valueBits) - 1);
}

/**
 * Time alignment of two beat series from one body (diagnostics and evaluation; unlocking does not
 * need it). Finds the lag L (b ≈ a + L, |L| ≤ maxLagSeconds) that pairs the most beats within
 * ±tolSeconds, refines it to the median paired difference, and returns the pairs.
 */
export function alignBeats(
  a: readonly number[],
  b: readonly number[],
  opts: { maxLagSeconds?: number; tolSeconds?: number; stepSeconds?: number } = {},
): { lagSeconds: number; pairs: Array<[number, number]> } {
  const maxLag = opts.maxLagSeconds ?? 0.6;
  const tol = opts.tolSeconds ?? 0.05;
  const step = opts.stepSeconds ?? 0.005;
  const pairAt = (lag: number, t: number): Array<[number, number]> => {
    const pairs: Array<[number, number]> = [];
    let j = 0;
    for (let i = 0; i < a.length; i++) {
      const target = a[i]! + lag;
      while (j < b.length && b[j]! < target - t) j++;
      if (j < b.length && Math.abs(b[j]! - target) <= t) pairs.push([i, j]);
    }
    return pairs;
  };
  let best = 0;
  let bestCount = -1;
  for (let lag = -maxLag; lag <= maxLag + 1e-9; lag += step) {
    const c = pairAt(lag, tol).length;
    if (c > bestCount) {
      bestCount = c;
      best = lag;
    }
  }
  const first = pairAt(best, tol);
  const refined = first.length ? median(first.map(([i, j]) => b[j]! - a[i]!)) : best;
  return { lagSeconds: refined, pairs: pairAt(refined, tol) };
}

/**
 * How well two aligned beat series agree on IPIs: the differences (ms) between the intervals of
 * consecutive paired beats. The spread of these is the noise the vault tolerance must absorb.
 */
export function ipiDisagreementMs(a: readonly number[], b: readonly number[], pairs: ReadonlyArray<readonly [number, number]>): number[] {
  const out: number[] = [];
  for (let p = 1; p < pairs.length; p++) {
    const [i0, j0] = pairs[p - 1]!;
    const [i1, j1] = pairs[p]!;
    if (i1 !== i0 + 1 || j1 !== j0 + 1) continue;
    out.push((b[j1]! - b[j0]! - (a[i1]! - a[i0]!)) * 1000);
  }
  return out;
}
