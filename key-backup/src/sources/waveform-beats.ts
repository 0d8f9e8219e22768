/**
 * Beats from waveform frames as they arrive from a live stream, placed on the frames' own clock.
 */
import { detectPulsePeaks, detectRPeaks } from '@vitalgate/biosignal';
import type { WaveformBody } from '@vitalgate/protocol';

export interface WaveformBeatsOptions {
  sensor: 'ecg' | 'ppg';
  /** Two frames belong to one contiguous run when the second starts within this of where the first ends (ms). Default 1.5 samples + 2 ms. */
  maxJitterMs?: number;
}

interface Frame { ts: number; rate: number; samples: number[] }

/**
 * Collects waveform frames (first-sample timestamp, rate, samples) of one stream and finds the beats
 * in them, placed on the frames' own clock: beat time = ts of its frame + offset / rate, in seconds
 * since 1970. Duplicate frames (same ts) are kept once; a gap or a rate change starts a new run, and
 * each run is analysed on its own, so a lost frame cannot misplace the beats after it.
 */
export class WaveformBeats {
  private readonly frames = new Map<number, Frame>();
  constructor(private readonly opts: WaveformBeatsOptions) {}

  add(body: Pick<WaveformBody, 'ts' | 'rate' | 'samples'>): void {
    if (!(body.rate > 0) || body.samples.length === 0 || this.frames.has(body.ts)) return;
    this.frames.set(body.ts, { ts: body.ts, rate: body.rate, samples: body.samples });
  }

  get frameCount(): number {
    return this.frames.size;
  }

  /** [first sample, end of last sample) in ms since 1970, or null before any frame. */
  span(): { fromMs: number; toMs: number } | null {
    let from = Infinity;
    let to = -Infinity;
    for (const f of this.frames.values()) {
      from = Math.min(from, f.ts);
      to = Math.max(to, f.ts + (f.samples.length * 1000) / f.rate);
    }
    return Number.isFinite(from) ? { fromMs: from, toMs: to } : null;
  }

  /** Contiguous runs of frames, in time order. */
  private runs(): Frame[][] {
    const sorted = [...this.frames.values()].sort((a, b) => a.ts - b.ts);
    const runs: Frame[][] = [];
    let cur: Frame[] = [];
    let end = -Infinity;
    let rate = 0;
    for (const f of sorted) {
      const jitter = this.opts.maxJitterMs ?? 1500 / f.rate + 2;
      if (cur.length && (f.rate !== rate || Math.abs(f.ts - end) > jitter)) {
        runs.push(cur);
        cur = [];
      }
      cur.push(f);
      rate = f.rate;
      end = f.ts + (f.samples.length * 1000) / f.rate;
    }
    if (cur.length) runs.push(cur);
    return runs;
  }

  /** Beat times (seconds since 1970), sorted. */
  beats(): number[] {
    const out: number[] = [];
    for (const run of this.runs()) {
      const rate = run[0]!.rate;
      const starts: number[] = [];
      let n = 0;
      for (const f of run) {
        starts.push(n);
        n += f.samples.length;
      }
      const x = new Float64Array(n);
      let i = 0;
      for (const f of run) for (const v of f.samples) x[i++] = v;
      const peaks = this.opts.sensor === 'ecg' ? detectRPeaks(x, rate) : detectPulsePeaks(x, rate);
      let fi = 0;
      for (const p of peaks) {
        while (fi + 1 < run.length && starts[fi + 1]! <= p) fi++;
        out.push((run[fi]!.ts + ((p - starts[fi]!) * 1000) / rate) / 1000);
      }
    }
    return out.sort((a, b) => a - b);
  }
}
