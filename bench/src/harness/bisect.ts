/**
 * The capacity search: the largest N that passes, given an expensive pass/fail oracle (one capacity
 * step, a minute or more each). First grow by doubling from `min` until a step fails or `max`
 * passes, then bisect the bracket [last pass, first fail] until it is narrower than the resolution.
 * Assumes that passing is monotone in N (more devices never make it easier).
 */

export interface SearchOptions {
  min: number;
  max: number;
  /** Devices; undefined: 10 % of the bracket's lower bound, at least 100. */
  resolution?: number;
}

export interface SearchResult {
  /** Largest N that passed, null when even `min` failed. */
  passedAt: number | null;
  /** Smallest N that failed, null when `max` passed. */
  failedAt: number | null;
  /** Every N tried, in order. */
  tried: Array<{ devices: number; pass: boolean }>;
}

export function resolutionFor(lo: number, fixed?: number): number {
  return fixed ?? Math.max(100, Math.round(lo * 0.1));
}

/** The growth sequence: min, 2·min, 4·min, … capped at max. */
export function growthSteps(min: number, max: number): number[] {
  const out: number[] = [];
  for (let n = min; ; n *= 2) {
    if (n >= max) {
      out.push(max);
      return out;
    }
    out.push(n);
  }
}

export async function searchCapacity(o: SearchOptions, pass: (devices: number) => Promise<boolean>): Promise<SearchResult> {
  if (!(o.min > 0 && o.max >= o.min)) throw new Error(`bad search bounds ${o.min}..${o.max}`);
  const tried: SearchResult['tried'] = [];
  const test = async (n: number) => {
    const ok = await pass(n);
    tried.push({ devices: n, pass: ok });
    return ok;
  };
  let lo: number | null = null;
  let hi: number | null = null;
  for (const n of growthSteps(o.min, o.max)) {
    if (await test(n)) lo = n;
    else {
      hi = n;
      break;
    }
  }
  if (lo === null || hi === null) return { passedAt: lo, failedAt: hi, tried };
  let [passN, failN]: [number, number] = [lo, hi];
  while (failN - passN > resolutionFor(passN, o.resolution)) {
    // Rounded to tens: device counts read better, and the resolution is never finer than that.
    const mid: number = Math.round((passN + failN) / 20) * 10;
    if (mid <= passN || mid >= failN) break;
    if (await test(mid)) passN = mid;
    else failN = mid;
  }
  return { passedAt: passN, failedAt: failN, tried };
}
