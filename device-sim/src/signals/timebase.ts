/**
 * Sample instants of one sampled stream.
 *
 * Callers ask for frames (next `fromMs` = previous `fromMs + count × period`). Epoch times are
 * ~1.7e12 ms, where a double resolves only ~0.24 µs, so with a period that is not a binary
 * fraction (360 Hz: 2.777… ms) the caller's frame start and our `fromMs + i × period` round
 * differently, and a value that depends on the exact instant (noise keyed by time, an output
 * rounded to integer µV) can flip. A frame that starts where the previous one ended, to within a
 * thousandth of a period, therefore continues the previous frame's grid (`origin + n × period`)
 * instead of starting a new one: framed output is then bit-identical to one long call, at any
 * rate. A frame that does not continue the stream starts a new grid at its own `fromMs`, i.e. is
 * rendered exactly as a fresh model would render it.
 */

export interface SampleGrid {
  /** Sample i of the request is at origin + (first + i) × periodMs. */
  readonly origin: number;
  readonly first: number;
  readonly periodMs: number;
}

export class SampleClock {
  private origin = Number.NaN;
  private next = 0;
  private periodMs = Number.NaN;

  grid(fromMs: number, count: number, rateHz: number): SampleGrid {
    checkTime('fromMs', fromMs);
    checkCount(count);
    const periodMs = samplePeriodMs(rateHz);
    const expected = this.origin + this.next * periodMs;
    if (!(periodMs === this.periodMs && Math.abs(fromMs - expected) <= periodMs * 1e-3)) {
      this.origin = fromMs;
      this.next = 0;
      this.periodMs = periodMs;
    }
    const first = this.next;
    this.next += count;
    return { origin: this.origin, first, periodMs };
  }
}

export function sampleTime(g: SampleGrid, i: number): number {
  return g.origin + (g.first + i) * g.periodMs;
}

export function samplePeriodMs(rateHz: number): number {
  if (!(Number.isFinite(rateHz) && rateHz > 0)) throw new RangeError(`rateHz must be a positive number, got ${rateHz}`);
  return 1000 / rateHz;
}

export function checkCount(count: number): void {
  if (!(Number.isSafeInteger(count) && count >= 0)) throw new RangeError(`count must be a non-negative integer, got ${count}`);
}

export function checkTime(name: string, ms: number): void {
  if (!Number.isFinite(ms)) throw new RangeError(`${name} must be a finite time in ms, got ${ms}`);
}
