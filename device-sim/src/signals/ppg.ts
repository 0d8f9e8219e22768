/**
 * Photoplethysmogram (finger/wrist pulse wave) driven by the same beats as the ECG.
 *
 * Each beat's pressure wave reaches the sensor a pulse transit time (PTT) after the R peak; the
 * systolic peak is placed exactly there. The pulse is two Gaussians, the usual two-component PPG
 * decomposition: a systolic wave with a fast upstroke and slower fall (asymmetric widths), and a
 * smaller, later diastolic (reflected) wave; the dip between them is the dicrotic notch.
 * Ejection time and the reflection delay lengthen with the cycle, so the template stretches with
 * √RR like the ECG T wave.
 *
 * The PTT shortens a little when the heart speeds up and swings with breathing (intrathoracic
 * pressure), as measured PTT does; that PTT/RR coupling is what cuffless-BP algorithms look for.
 * Breathing also modulates the baseline (venous return) and the pulse amplitude.
 *
 * Output is ADC-like counts: baseline ~2000 of a 12-bit range, clamped to 0..4095.
 */
import type { Prng } from './prng.js';
import type { Breathing } from './respiration.js';
import { noiseAt } from './noise.js';
import { sampleTime, type SampleGrid } from './timebase.js';

const TWO_PI = 2 * Math.PI;
const CUT_SD = 5;
export const PPG_MAX_COUNT = 4095;
export const MIN_PTT_MS = 120;
export const MAX_PTT_MS = 280; // below MIN_RR_MS, so a pulse always lands before the next R peak

export interface PpgBeatShape {
  /** Systolic peak time, ms since the Unix epoch (R peak + PTT). */
  readonly pulseT: number;
  readonly gain: number; // counts
  readonly sKL: number; // 1 / (2σ²) of the upstroke
  readonly sKR: number;
  readonly sWL: number;
  readonly sWR: number;
  readonly dC: number; // diastolic wave, ms after the systolic peak
  readonly dK: number;
  readonly dW: number;
  readonly dA: number; // relative to the systolic wave
  readonly lo: number; // support relative to pulseT
  readonly hi: number;
}

export interface PpgBeat {
  readonly t: number;
  readonly ppg: PpgBeatShape;
}

export class PpgModel {
  readonly pttBaseMs: number;
  private readonly baseline: number;
  private readonly amplitude: number;
  private readonly diastolicRatio: number;
  private readonly upstrokeSd: number;
  private readonly pttRespMs: number;
  private readonly pttPhase: number;
  private readonly riivCounts: number;
  private readonly riivPhase: number;
  private readonly riavDepth: number;
  private readonly riavPhase: number;
  private readonly driftCounts: number;
  private readonly driftOmega: number;
  private readonly driftPhase: number;
  private readonly noiseCounts: number;
  private readonly noiseKey: number;

  constructor(
    rng: Prng,
    private readonly breathing: Breathing,
    private readonly originMs: number,
    private readonly meanRrMs: number,
  ) {
    this.pttBaseMs = rng.range(170, 230);
    this.baseline = rng.range(1900, 2100);
    this.amplitude = rng.range(600, 1000);
    // Stiffer arteries (older people) give a smaller, earlier-merging diastolic wave.
    this.diastolicRatio = rng.range(0.3, 0.5);
    this.upstrokeSd = rng.range(40, 55);
    this.pttRespMs = rng.range(3, 8);
    this.pttPhase = rng.range(0, TWO_PI);
    this.riivCounts = rng.range(15, 40);
    this.riivPhase = rng.range(0, TWO_PI);
    this.riavDepth = rng.range(0.03, 0.08);
    this.riavPhase = rng.range(0, TWO_PI);
    this.driftCounts = rng.range(5, 25);
    this.driftOmega = TWO_PI * rng.range(0.005, 0.03);
    this.driftPhase = rng.range(0, TWO_PI);
    this.noiseCounts = rng.range(2, 5);
    this.noiseKey = rng.uint32();
  }

  /** Pulse parameters for a beat at `tMs` preceded by `rrMs`, at breathing phase `respPhase`. */
  shape(tMs: number, rrMs: number, respPhase: number): PpgBeatShape {
    const stretch = Math.sqrt(rrMs / 1000);
    const rel = (rrMs - this.meanRrMs) / this.meanRrMs;
    const ptt = Math.min(
      MAX_PTT_MS,
      Math.max(MIN_PTT_MS, this.pttBaseMs + 40 * rel + this.pttRespMs * Math.sin(respPhase + this.pttPhase)),
    );
    // A longer preceding cycle fills the ventricle more and ejects a bigger pulse (Frank–Starling).
    const gain =
      this.amplitude * (1 + this.riavDepth * Math.sin(respPhase + this.riavPhase)) * Math.max(0.5, 1 + 0.3 * rel);
    const sdL = this.upstrokeSd;
    const sdR = 110 * stretch;
    const dC = 330 * stretch;
    const dSd = 70 * stretch;
    return {
      pulseT: tMs + ptt,
      gain,
      sKL: 1 / (2 * sdL * sdL),
      sKR: 1 / (2 * sdR * sdR),
      sWL: CUT_SD * sdL,
      sWR: CUT_SD * sdR,
      dC,
      dK: 1 / (2 * dSd * dSd),
      dW: CUT_SD * dSd,
      dA: this.diastolicRatio,
      lo: -CUT_SD * sdL,
      hi: Math.max(CUT_SD * sdR, dC + CUT_SD * dSd),
    };
  }

  /**
   * Render `count` samples on `grid`. `k` is the index in `beats` of the last beat
   * whose pulse peak is at or before the first sample (−1 if none); `beats` must extend past the
   * last sample.
   */
  render(beats: readonly PpgBeat[], k: number, grid: SampleGrid, count: number): number[] {
    const out = new Array<number>(count);
    const last = beats.length - 1;
    for (let i = 0; i < count; i++) {
      const t = sampleTime(grid, i);
      while (k < last && beats[k + 1]!.ppg.pulseT <= t) k++;
      let v = this.baselineCounts(t);
      if (k >= 0) v += pulseCounts(beats[k]!.ppg, t);
      if (k < last) v += pulseCounts(beats[k + 1]!.ppg, t);
      v = Math.round(v);
      out[i] = v < 0 ? 0 : v > PPG_MAX_COUNT ? PPG_MAX_COUNT : v;
    }
    return out;
  }

  private baselineCounts(t: number): number {
    const tau = (t - this.originMs) / 1000;
    return (
      this.baseline +
      this.riivCounts * Math.sin(this.breathing.phaseAt(t) + this.riivPhase) +
      this.driftCounts * Math.sin(this.driftOmega * tau + this.driftPhase) +
      this.noiseCounts * noiseAt(this.noiseKey, t)
    );
  }
}

function pulseCounts(s: PpgBeatShape, t: number): number {
  const dt = t - s.pulseT;
  if (dt < s.lo || dt > s.hi) return 0;
  let v = 0;
  if (dt < 0) {
    if (dt > -s.sWL) v += Math.exp(-dt * dt * s.sKL);
  } else if (dt < s.sWR) {
    v += Math.exp(-dt * dt * s.sKR);
  }
  const x = dt - s.dC;
  if (x > -s.dW && x < s.dW) v += s.dA * Math.exp(-x * x * s.dK);
  return s.gain * v;
}
