/**
 * The breathing oscillator. Respiration shows up in three places: the high-frequency component
 * of heart-rate variability (respiratory sinus arrhythmia), ECG baseline wander and QRS amplitude
 * modulation, and PPG baseline/amplitude modulation. All of them read the phase from this one
 * oscillator, so the respiration rate a device reports is the rate actually visible in its
 * waveforms and RR series (which is what a rate-from-ECG/PPG algorithm under test would estimate).
 *
 * The rate itself wanders slowly (people do not breathe like a metronome). The wander is
 * sinusoidal frequency modulation, whose phase integral has a closed form, so the phase at any
 * instant costs two trig calls and no state: streams can be evaluated in any order.
 */
import type { Prng } from './prng.js';

const TWO_PI = 2 * Math.PI;

export class Breathing {
  /** Centre breathing frequency, Hz (12–18 breaths/min at rest). */
  readonly centreHz: number;
  private readonly depthHz;
  private readonly modOmega; // rad/s of the rate's own slow wander
  private readonly modPhase;
  private readonly phase0;

  constructor(
    rng: Prng,
    private readonly originMs: number,
  ) {
    this.centreHz = rng.range(0.2, 0.3);
    this.depthHz = rng.range(0.008, 0.02);
    this.modOmega = TWO_PI / rng.range(120, 300);
    this.modPhase = rng.range(0, TWO_PI);
    this.phase0 = rng.range(0, TWO_PI);
  }

  /** Instantaneous breathing phase in radians (unwrapped). */
  phaseAt(tMs: number): number {
    const tau = (tMs - this.originMs) / 1000;
    // ∫ (f0 + d·sin(Ωτ + ψ)) dτ = f0·τ − (d/Ω)·cos(Ωτ + ψ)
    return (
      TWO_PI * this.centreHz * tau -
      ((TWO_PI * this.depthHz) / this.modOmega) * Math.cos(this.modOmega * tau + this.modPhase) +
      this.phase0
    );
  }

  frequencyHzAt(tMs: number): number {
    const tau = (tMs - this.originMs) / 1000;
    return this.centreHz + this.depthHz * Math.sin(this.modOmega * tau + this.modPhase);
  }
}
