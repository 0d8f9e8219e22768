/**
 * Slowly varying vitals that devices report as spot values (SpO2, temperature).
 *
 * Both are pure functions of time (sums of slow sinusoids with per-body periods and phases), so a
 * value can be asked for at any instant, in any order, without state. Wander is bounded by
 * construction and then clamped to the resting-adult bands, so a reading outside them in a test
 * or demo means a fault was injected, not that the model drifted.
 */
import type { Prng } from './prng.js';

const TWO_PI = 2 * Math.PI;
const DAY_MS = 86_400_000;

export const SPO2_MIN = 94;
export const SPO2_MAX = 99;
export const TEMP_MIN_CEL = 36.4;
export const TEMP_MAX_CEL = 37.3;

interface Wave {
  amp: number;
  omega: number; // rad/s
  phase: number;
}

function wave(rng: Prng, amp: number, minPeriodS: number, maxPeriodS: number): Wave {
  return { amp, omega: TWO_PI / rng.range(minPeriodS, maxPeriodS), phase: rng.range(0, TWO_PI) };
}

function waveAt(w: Wave, tau: number): number {
  return w.amp * Math.sin(w.omega * tau + w.phase);
}

export class SlowVitals {
  private readonly spo2Base: number;
  private readonly spo2Waves: Wave[];
  private readonly tempBase: number;
  private readonly tempWave: Wave;
  private readonly tempCircadianAmp: number;

  constructor(
    rng: Prng,
    private readonly originMs: number,
  ) {
    this.spo2Base = rng.range(96.5, 98.2);
    this.spo2Waves = [wave(rng, 0.6, 600, 1800), wave(rng, 0.3, 90, 240)];
    this.tempBase = rng.range(36.7, 36.95);
    this.tempWave = wave(rng, 0.05, 1200, 3600);
    this.tempCircadianAmp = rng.range(0.15, 0.25);
  }

  /** Percent, one decimal. */
  spo2(tMs: number): number {
    const tau = (tMs - this.originMs) / 1000;
    let v = this.spo2Base;
    for (const w of this.spo2Waves) v += waveAt(w, tau);
    return Math.round(clamp(v, SPO2_MIN, SPO2_MAX) * 10) / 10;
  }

  /**
   * Cel, two decimals. Core temperature follows the circadian rhythm (low ~05:00, high ~17:00);
   * wall-clock hours are taken in UTC because the body has no time zone to go by.
   */
  temperature(tMs: number): number {
    const tau = (tMs - this.originMs) / 1000;
    const dayPhase = (TWO_PI * (((tMs % DAY_MS) + DAY_MS) % DAY_MS)) / DAY_MS; // 0 at 00:00 UTC
    const circadian = -this.tempCircadianAmp * Math.cos(dayPhase - (TWO_PI * 5) / 24);
    const v = this.tempBase + circadian + waveAt(this.tempWave, tau);
    return Math.round(clamp(v, TEMP_MIN_CEL, TEMP_MAX_CEL) * 100) / 100;
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}
