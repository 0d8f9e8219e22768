/**
 * ECG lead II as a sum of Gaussian waves per beat.
 *
 * The wave set (P, Q, R, S, T) and their relative sizes follow the ECGSYN morphology of McSharry
 * et al. 2003, but written in time around each R peak instead of as ECGSYN's phase ODE: the ODE
 * has to be integrated sample by sample from the start, whereas a closed form can be evaluated at
 * any instant, so frames can be rendered independently and cheaply. Only the previous and next
 * beat are evaluated at a sample; every wave is cut off at 5 SD, where it is below 0.001% of its
 * peak and far below the noise.
 *
 * Rate dependence: QT shortens with the preceding RR roughly as √RR (Bazett), so the T wave's
 * position and width scale with √RR; the PR interval shortens only weakly (∜RR, as ECGSYN's
 * hrfact2). QRS does not scale. The R peak sits exactly at the beat time because the Q and S
 * waves are far enough from it that they shift the summed maximum by < 0.1 ms.
 */
import type { Prng } from './prng.js';
import type { Breathing } from './respiration.js';
import { noiseAt } from './noise.js';
import { sampleTime, type SampleGrid } from './timebase.js';

const TWO_PI = 2 * Math.PI;
const CUT_SD = 5;

// QRS geometry (ms from R): Q and S 28 ms either side give a ~90 ms QRS.
const Q_C = -28;
const Q_K = 1 / (2 * 9 * 9);
const Q_W = CUT_SD * 9;
const R_K = 1 / (2 * 9 * 9);
const R_W = CUT_SD * 9;
const S_C = 28;
const S_K = 1 / (2 * 10 * 10);
const S_W = CUT_SD * 10;

/** Per-beat wave parameters, times in ms relative to the R peak, amplitudes in µV. */
export interface EcgBeatShape {
  readonly lo: number; // support of the whole beat
  readonly hi: number;
  readonly pC: number;
  readonly pK: number; // 1 / (2σ²)
  readonly pW: number; // cut-off half-width
  readonly pA: number;
  readonly qA: number;
  readonly rA: number;
  readonly sA: number;
  readonly tC: number;
  readonly tKL: number; // rising and falling limbs differ: the T wave rises slower than it falls
  readonly tKR: number;
  readonly tWL: number;
  readonly tWR: number;
  readonly tA: number;
}

export interface EcgBeat {
  readonly t: number;
  readonly ecg: EcgBeatShape;
}

export class EcgModel {
  readonly rAmplitudeUv: number;
  private readonly pAmp: number;
  private readonly pOffset: number; // P peak before R at RR = 1 s
  private readonly pSd: number;
  private readonly qAmp: number;
  private readonly sAmp: number;
  private readonly tAmp: number;
  private readonly tOffset: number; // T peak after R at RR = 1 s
  private readonly axisPhase: number;
  private readonly wanderUv: number;
  private readonly wanderPhase: number;
  private readonly driftUv: number;
  private readonly driftOmega: number;
  private readonly driftPhase: number;
  private readonly noiseUv: number;
  private readonly noiseKey: number;

  constructor(
    rng: Prng,
    private readonly breathing: Breathing,
    private readonly originMs: number,
  ) {
    this.rAmplitudeUv = rng.range(1000, 1500);
    this.pAmp = rng.range(80, 180);
    this.pOffset = rng.range(140, 180);
    this.pSd = rng.range(18, 26);
    this.qAmp = -rng.range(50, 150);
    this.sAmp = -rng.range(150, 350);
    this.tAmp = rng.range(200, 400);
    // T peak ≈ QT − ~130 ms; QTc 380–430 ms.
    this.tOffset = rng.range(250, 300);
    this.axisPhase = rng.range(0, TWO_PI);
    this.wanderUv = rng.range(30, 80);
    this.wanderPhase = rng.range(0, TWO_PI);
    this.driftUv = rng.range(10, 30);
    this.driftOmega = TWO_PI * rng.range(0.01, 0.05);
    this.driftPhase = rng.range(0, TWO_PI);
    this.noiseUv = rng.range(5, 12);
    this.noiseKey = rng.uint32();
  }

  /** Wave parameters for a beat preceded by an `rrMs` interval, at breathing phase `respPhase`. */
  shape(rrMs: number, respPhase: number): EcgBeatShape {
    const rrS = rrMs / 1000;
    const bazett = Math.sqrt(rrS);
    // Breathing swings the heart's electrical axis, which modulates QRS amplitude by a few per cent.
    const gain = 1 + 0.05 * Math.sin(respPhase + this.axisPhase);
    const pC = -this.pOffset * Math.sqrt(bazett);
    const pW = CUT_SD * this.pSd;
    const tC = this.tOffset * bazett;
    const sdL = 55 * bazett;
    const sdR = 35 * bazett;
    return {
      lo: Math.min(pC - pW, Q_C - Q_W),
      hi: tC + CUT_SD * sdR,
      pC,
      pK: 1 / (2 * this.pSd * this.pSd),
      pW,
      pA: this.pAmp,
      qA: this.qAmp * gain,
      rA: this.rAmplitudeUv * gain,
      sA: this.sAmp * gain,
      tC,
      tKL: 1 / (2 * sdL * sdL),
      tKR: 1 / (2 * sdR * sdR),
      tWL: CUT_SD * sdL,
      tWR: CUT_SD * sdR,
      tA: this.tAmp,
    };
  }

  /**
   * Render `count` samples on `grid`. `j` is the index in `beats` of the last beat at
   * or before the first sample (−1 if none); `beats` must extend past the last sample.
   */
  render(beats: readonly EcgBeat[], j: number, grid: SampleGrid, count: number): number[] {
    const out = new Array<number>(count);
    const last = beats.length - 1;
    for (let i = 0; i < count; i++) {
      const t = sampleTime(grid, i);
      while (j < last && beats[j + 1]!.t <= t) j++;
      let v = this.baselineUv(t);
      if (j >= 0) {
        const b = beats[j]!;
        v += waveUv(b.ecg, t - b.t);
      }
      if (j < last) {
        const b = beats[j + 1]!;
        v += waveUv(b.ecg, t - b.t);
      }
      out[i] = Math.round(v);
    }
    return out;
  }

  private baselineUv(t: number): number {
    const tau = (t - this.originMs) / 1000;
    return (
      this.wanderUv * Math.sin(this.breathing.phaseAt(t) + this.wanderPhase) +
      this.driftUv * Math.sin(this.driftOmega * tau + this.driftPhase) +
      this.noiseUv * noiseAt(this.noiseKey, t)
    );
  }
}

function waveUv(s: EcgBeatShape, dt: number): number {
  if (dt < s.lo || dt > s.hi) return 0;
  let v = 0;
  let x = dt - s.pC;
  if (x > -s.pW && x < s.pW) v += s.pA * Math.exp(-x * x * s.pK);
  x = dt - Q_C;
  if (x > -Q_W && x < Q_W) v += s.qA * Math.exp(-x * x * Q_K);
  if (dt > -R_W && dt < R_W) v += s.rA * Math.exp(-dt * dt * R_K);
  x = dt - S_C;
  if (x > -S_W && x < S_W) v += s.sA * Math.exp(-x * x * S_K);
  x = dt - s.tC;
  if (x < 0) {
    if (x > -s.tWL) v += s.tA * Math.exp(-x * x * s.tKL);
  } else if (x < s.tWR) {
    v += s.tA * Math.exp(-x * x * s.tKR);
  }
  return v;
}
