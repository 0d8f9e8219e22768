/**
 * Latencies at millisecond resolution, with an overflow bucket at `limitMs`: exact nearest-rank
 * percentiles in constant memory (4 bytes per millisecond of range), so a process can keep one
 * for millions of readings. Shared by the gateway (its stage latencies) and the bench.
 */
export class LatencyHistogram {
  private readonly buckets: Uint32Array;
  count = 0;
  sum = 0;
  max = -Infinity;
  min = Infinity;

  constructor(readonly limitMs = 600_000) {
    this.buckets = new Uint32Array(limitMs + 1);
  }

  /** One sample, in ms; negatives (clock steps) count as 0, anything past the limit in the last bucket. */
  add(ms: number): void {
    const v = ms < 0 || Number.isNaN(ms) ? 0 : ms;
    this.buckets[Math.min(this.limitMs, Math.round(v))]!++;
    this.count++;
    this.sum += v;
    if (v > this.max) this.max = v;
    if (v < this.min) this.min = v;
  }

  /** Nearest-rank percentile (p in 0..100), or null with no samples. */
  percentile(p: number): number | null {
    if (this.count === 0) return null;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      seen += this.buckets[i]!;
      if (seen >= rank) return i;
    }
    return this.limitMs;
  }

  mean(): number | null {
    return this.count ? this.sum / this.count : null;
  }

  /** count, mean, p50, p99 and max, rounded to 0.1 ms (null fields with no samples). */
  summary(): LatencySummary {
    const r = (v: number | null) => (v === null ? null : Math.round(v * 10) / 10);
    return { count: this.count, mean: r(this.mean()), p50: this.percentile(50), p99: this.percentile(99), max: this.count ? r(this.max) : null };
  }
}

export interface LatencySummary {
  count: number;
  mean: number | null;
  p50: number | null;
  p99: number | null;
  max: number | null;
}
