/** Beat-by-beat comparison of detections against reference annotations (ANSI/AAMI EC57 style). */

export interface BeatScore {
  /** Reference beats matched by a detection. */
  truePositives: number;
  /** Detections that matched no reference beat. */
  falsePositives: number;
  /** Reference beats that no detection matched. */
  falseNegatives: number;
  /** TP / (TP + FN); 1 when there is no reference beat. */
  sensitivity: number;
  /** TP / (TP + FP); 1 when nothing was detected. */
  positivePredictivity: number;
}

function sortedFinite(v: readonly number[]): number[] {
  return v.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
}

/**
 * Matches detections to reference beats one-to-one: a detection matches a reference beat when
 * they are at most `windowSeconds` apart (inclusive), each reference beat takes at most one
 * detection and each detection serves at most one reference beat. Both lists are sample indices
 * at `fs` Hz, in any order. Because every reference beat accepts an interval of detections and
 * these intervals are ordered, taking for each reference beat (in time order) the earliest
 * detection still free inside its window gives the largest possible number of matches.
 */
export function scoreBeats(detected: readonly number[], reference: readonly number[], fs: number, windowSeconds = 0.15): BeatScore {
  if (!Number.isFinite(fs) || fs <= 0) throw new RangeError(`sampling rate must be a positive number of Hz (got ${String(fs)})`);
  if (!Number.isFinite(windowSeconds) || windowSeconds < 0) throw new RangeError(`matching window must be a non-negative number of seconds (got ${String(windowSeconds)})`);
  const det = sortedFinite(detected);
  const ref = sortedFinite(reference);
  // A hair of tolerance so that a window of exactly k samples (0.15 s at 200 Hz = 30) includes k.
  const w = windowSeconds * fs * (1 + 1e-12) + 1e-9;
  let tp = 0;
  let j = 0;
  for (const r of ref) {
    while (j < det.length && det[j]! < r - w) j++; // too early for this and every later reference beat
    if (j < det.length && det[j]! <= r + w) {
      tp++;
      j++;
    }
  }
  const fp = det.length - tp;
  const fn = ref.length - tp;
  return {
    truePositives: tp,
    falsePositives: fp,
    falseNegatives: fn,
    sensitivity: ref.length === 0 ? 1 : tp / ref.length,
    positivePredictivity: det.length === 0 ? 1 : tp / det.length,
  };
}
