/**
 * The beat timeline every stream of one body is rendered from.
 *
 * ECG R peaks, PPG pulses and the heart rate a device reports must all come from the same beats,
 * and callers read the streams in different frame sizes and at slightly different times, so the
 * beats live here once, generated lazily in time order and shared.
 *
 * Memory: only a window of beats is kept. Dropped beats are never lost, because the source is
 * deterministic: asking for a time before the kept window rewinds the source and replays it
 * (correct, only slower). That makes trimming safe to do automatically as well as on request.
 */

export interface Timed {
  /** ms since the Unix epoch */
  readonly t: number;
}

export interface BeatSource<B extends Timed> {
  /** Rewind to the first beat; the sequence after a rewind must repeat exactly. */
  restart(): void;
  /** The next beat, strictly later than the previous one. */
  next(): B;
}

// Past this many kept beats (~1 h at 70 bpm) trim on our own, in case a caller never calls discardBefore.
const AUTO_TRIM_BEATS = 4096;
// A stream lagging the one that triggered the auto-trim by less than this still finds its beats.
const AUTO_TRIM_MARGIN_MS = 10 * 60_000;

export class BeatTrain<B extends Timed> {
  private list: B[] = [];
  private trimmed = false;

  constructor(private readonly source: BeatSource<B>) {
    source.restart();
  }

  /** Kept beats in time order. Valid until the next prepare/discardBefore. */
  get items(): readonly B[] {
    return this.list;
  }

  /**
   * Make the kept beats cover [fromMs, throughMs]: the beat at or before `fromMs` and the one
   * before it (a PPG pulse belongs to a beat up to one beat earlier), and a beat after `throughMs`
   * (the next beat's P wave / pulse upstroke is already under way).
   */
  prepare(fromMs: number, throughMs: number): void {
    if (!this.covers(fromMs)) this.rewind();
    const list = this.list;
    const keepFrom = fromMs - AUTO_TRIM_MARGIN_MS;
    let last = list[list.length - 1];
    while (last === undefined || last.t <= throughMs) {
      last = this.source.next();
      list.push(last);
      if (list.length >= AUTO_TRIM_BEATS) this.discardBefore(keepFrom);
    }
  }

  /** Drop beats no longer needed to render times at or after `ms`. */
  discardBefore(ms: number): void {
    const j = this.lastAtOrBefore(ms);
    if (j >= 2) {
      this.list.splice(0, j - 1);
      this.trimmed = true;
    }
  }

  /** Index of the last kept beat with t ≤ ms, or −1. */
  lastAtOrBefore(ms: number): number {
    const list = this.list;
    let lo = 0;
    let hi = list.length; // first index with t > ms lies in [lo, hi]
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (list[mid]!.t <= ms) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }

  private covers(ms: number): boolean {
    return !this.trimmed || this.lastAtOrBefore(ms) >= 1;
  }

  private rewind(): void {
    this.list = [];
    this.trimmed = false;
    this.source.restart();
  }
}
