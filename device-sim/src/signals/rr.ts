/**
 * Beat-to-beat (RR) intervals with realistic heart-rate variability.
 *
 * Follows the spectral picture of McSharry et al. 2003 (ECGSYN, IEEE TBME 50:289): a bimodal
 * spectrum with Mayer waves (LF, ~0.1 Hz, baroreflex) and respiratory sinus arrhythmia (HF, at
 * the breathing frequency). ECGSYN builds the whole RR series by inverse FFT, which needs the
 * series length up front; a simulated device runs open-ended, so the same spectrum is built here
 * as a sum of a few sinusoids with random phases (LF lines scattered around 0.1 Hz, HF locked to
 * the breathing oscillator), plus a very-low-frequency drift and white beat-to-beat jitter.
 * Each interval is that modulation evaluated at the previous beat, so beats can be produced one at
 * a time, forever, with O(1) state.
 */
import { Prng } from './prng.js';
import type { Breathing } from './respiration.js';

/** Physiological clamp: 200 bpm and 30 bpm. */
export const MIN_RR_MS = 300;
export const MAX_RR_MS = 2000;

const TWO_PI = 2 * Math.PI;
const LF_LINES = 4;

interface Line {
  amp: number; // ms
  omega: number; // rad/s
  phase: number;
}

export interface RrBeat {
  /** R-peak time, ms since the Unix epoch. */
  t: number;
  /** Interval from the previous beat (ms); the mean RR for the very first beat. */
  rr: number;
}

export class RrModel {
  readonly meanRrMs: number;
  /** Target SDNN (ms) that the modulation depths are set from; the measured value scatters around it. */
  readonly sdnnTargetMs: number;
  readonly lfHfRatio: number;
  private readonly lf: Line[] = [];
  private readonly vlf: Line;
  private readonly hfAmp: number;
  private readonly hfPhase: number;
  private readonly jitterSd: number;
  private readonly firstBeatMs: number;
  private jitter: Prng;
  private lastT = Number.NaN;

  constructor(
    rng: Prng,
    private readonly seed: number,
    private readonly breathing: Breathing,
    private readonly originMs: number,
    meanRrMs: number,
  ) {
    this.meanRrMs = meanRrMs;
    // Short-term HRV shrinks as the heart speeds up; scaling by mean RR keeps a fast-HR body plausible.
    const scale = Math.min(1.5, Math.max(0.4, meanRrMs / 850));
    this.sdnnTargetMs = rng.range(35, 65) * scale;
    this.lfHfRatio = rng.range(0.5, 2.0);
    const variance = this.sdnnTargetMs ** 2;
    // Budget: 2% white jitter, 10% VLF drift, the rest split LF:HF by the ratio.
    this.jitterSd = Math.sqrt(0.02 * variance);
    const vlfVar = 0.1 * variance;
    const oscVar = variance - 0.02 * variance - vlfVar;
    const lfVar = (oscVar * this.lfHfRatio) / (1 + this.lfHfRatio);
    const hfVar = oscVar - lfVar;
    // A sinusoid of amplitude a has variance a²/2.
    for (let i = 0; i < LF_LINES; i++) {
      const f = Math.min(0.14, Math.max(0.06, 0.1 + 0.015 * rng.gaussian()));
      this.lf.push({ amp: Math.sqrt((2 * lfVar) / LF_LINES), omega: TWO_PI * f, phase: rng.range(0, TWO_PI) });
    }
    this.vlf = { amp: Math.sqrt(2 * vlfVar), omega: TWO_PI * rng.range(0.008, 0.035), phase: rng.range(0, TWO_PI) };
    this.hfAmp = Math.sqrt(2 * hfVar);
    this.hfPhase = rng.range(0, TWO_PI);
    // Where in its cycle the heart is when the body starts, so bodies started together do not beat in lockstep.
    this.firstBeatMs = originMs + rng.range(0.05, 1) * meanRrMs;
    this.jitter = new Prng(seed, 'rr-jitter');
  }

  /** Rewind to the first beat; the replayed sequence is identical. */
  restart(): void {
    this.jitter = new Prng(this.seed, 'rr-jitter');
    this.lastT = Number.NaN;
  }

  /** The interval that follows a beat at `tMs` (consumes one jitter draw). */
  private intervalAfter(tMs: number): number {
    const tau = (tMs - this.originMs) / 1000;
    let rr = this.meanRrMs;
    for (const l of this.lf) rr += l.amp * Math.sin(l.omega * tau + l.phase);
    rr += this.vlf.amp * Math.sin(this.vlf.omega * tau + this.vlf.phase);
    rr += this.hfAmp * Math.sin(this.breathing.phaseAt(tMs) + this.hfPhase);
    rr += this.jitterSd * this.jitter.gaussian();
    return Math.min(MAX_RR_MS, Math.max(MIN_RR_MS, rr));
  }

  nextBeat(): RrBeat {
    if (Number.isNaN(this.lastT)) {
      this.lastT = this.firstBeatMs;
      return { t: this.lastT, rr: this.meanRrMs };
    }
    const rr = this.intervalAfter(this.lastT);
    this.lastT += rr;
    return { t: this.lastT, rr };
  }
}
