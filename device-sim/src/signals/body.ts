/**
 * One simulated person: every signal a wearable on that person could measure, all driven by one
 * heart (beat train) and one breathing oscillator, so that streams from different devices on the
 * same body agree with each other the way real ones do (PPG pulses follow ECG R peaks by the
 * pulse transit time; the RSA in the RR series, the ECG baseline wander and the reported
 * respiration rate share one frequency).
 *
 * Everything is a deterministic function of (seed, startMs) and time: a request returns the same
 * samples whatever was asked for before, and a stream cut into contiguous frames equals one long
 * call (see timebase.ts for the one nuance, at sample periods that are not binary fractions).
 * Each sub-model draws from its own labelled PRNG stream so that it can gain parameters later
 * without changing what the others produce for a given seed.
 */
import { BeatTrain, type BeatSource } from './beats.js';
import { EcgModel, type EcgBeatShape } from './ecg.js';
import { PpgModel, type PpgBeatShape } from './ppg.js';
import { Prng } from './prng.js';
import { Breathing } from './respiration.js';
import { RrModel } from './rr.js';
import { checkTime, SampleClock, sampleTime } from './timebase.js';
import { SlowVitals } from './vitals.js';

export interface BodyModelOptions {
  /** Determinism: same seed + startMs → identical output. */
  seed: number;
  /** Wall-clock ms since the Unix epoch at which the body "starts" (first beat within one RR after). */
  startMs: number;
  /** Default derived from the seed in [60, 90]. Accepted range 30–200. */
  meanHrBpm?: number;
}

export const MIN_MEAN_HR_BPM = 30;
export const MAX_MEAN_HR_BPM = 200;

interface BodyBeat {
  readonly t: number;
  readonly rr: number;
  readonly ecg: EcgBeatShape;
  readonly ppg: PpgBeatShape;
}

export class BodyModel {
  readonly seed: number;
  readonly startMs: number;
  readonly meanHrBpm: number;
  private readonly breathing: Breathing;
  private readonly ecgModel: EcgModel;
  private readonly ppgModel: PpgModel;
  private readonly vitals: SlowVitals;
  private readonly train: BeatTrain<BodyBeat>;
  private readonly ecgClock = new SampleClock();
  private readonly ppgClock = new SampleClock();

  constructor(opts: BodyModelOptions) {
    const { seed, startMs } = opts;
    checkTime('startMs', startMs);
    const drawnHr = new Prng(seed, 'heart-rate').range(60, 90); // also validates the seed
    const hr = opts.meanHrBpm ?? drawnHr;
    if (!(Number.isFinite(hr) && hr >= MIN_MEAN_HR_BPM && hr <= MAX_MEAN_HR_BPM)) {
      throw new RangeError(`meanHrBpm must be within ${MIN_MEAN_HR_BPM}–${MAX_MEAN_HR_BPM}, got ${hr}`);
    }
    this.seed = seed;
    this.startMs = startMs;
    this.meanHrBpm = hr;
    const meanRrMs = 60_000 / hr;
    this.breathing = new Breathing(new Prng(seed, 'breathing'), startMs);
    const rr = new RrModel(new Prng(seed, 'rr'), seed, this.breathing, startMs, meanRrMs);
    this.ecgModel = new EcgModel(new Prng(seed, 'ecg'), this.breathing, startMs);
    this.ppgModel = new PpgModel(new Prng(seed, 'ppg'), this.breathing, startMs, meanRrMs);
    this.vitals = new SlowVitals(new Prng(seed, 'vitals'), startMs);
    const { breathing, ecgModel, ppgModel } = this;
    const source: BeatSource<BodyBeat> = {
      restart: () => rr.restart(),
      next: () => {
        const b = rr.nextBeat();
        const resp = breathing.phaseAt(b.t);
        return { t: b.t, rr: b.rr, ecg: ecgModel.shape(b.rr, resp), ppg: ppgModel.shape(b.t, b.rr, resp) };
      },
    };
    this.train = new BeatTrain(source);
  }

  /** R-peak times (ms since Unix epoch, floating point allowed) in [fromMs, toMs). Generated lazily in time order. */
  beats(fromMs: number, toMs: number): number[] {
    checkTime('fromMs', fromMs);
    checkTime('toMs', toMs);
    if (!(toMs > fromMs)) return [];
    this.train.prepare(fromMs, toMs);
    const items = this.train.items;
    let i = this.train.lastAtOrBefore(fromMs);
    if (i < 0 || items[i]!.t < fromMs) i++;
    const out: number[] = [];
    for (; i < items.length; i++) {
      const t = items[i]!.t;
      if (t >= toMs) break;
      out.push(t);
    }
    return out;
  }

  /**
   * ECG lead II in integer µV at times fromMs + i*1000/rateHz for i in [0,count). A call starting
   * where the previous ECG call ended continues its sample grid exactly.
   */
  ecg(fromMs: number, count: number, rateHz: number): number[] {
    const grid = this.ecgClock.grid(fromMs, count, rateHz);
    if (count === 0) return [];
    const t0 = sampleTime(grid, 0);
    this.train.prepare(t0, sampleTime(grid, count - 1));
    return this.ecgModel.render(this.train.items, this.train.lastAtOrBefore(t0), grid, count);
  }

  /** PPG in integer counts (0..4095), same timing convention. */
  ppg(fromMs: number, count: number, rateHz: number): number[] {
    const grid = this.ppgClock.grid(fromMs, count, rateHz);
    if (count === 0) return [];
    const t0 = sampleTime(grid, 0);
    this.train.prepare(t0, sampleTime(grid, count - 1));
    const items = this.train.items;
    // The pulse in progress may belong to the beat before the last R peak (PTT < RR).
    let k = this.train.lastAtOrBefore(t0);
    while (k >= 0 && items[k]!.ppg.pulseT > t0) k--;
    return this.ppgModel.render(items, k, grid, count);
  }

  /** SpO2 percent at a time: slowly wandering within 94–99, one decimal at most. */
  spo2(atMs: number): number {
    checkTime('atMs', atMs);
    return this.vitals.spo2(atMs);
  }

  /** Core temperature in Cel, slow drift (circadian + wander) within 36.4–37.3, two decimals at most. */
  temperature(atMs: number): number {
    checkTime('atMs', atMs);
    return this.vitals.temperature(atMs);
  }

  /** Respiration rate in breaths/min (one decimal), the frequency of the RSA and baseline wander at that time. */
  respirationRate(atMs: number): number {
    checkTime('atMs', atMs);
    return Math.round(this.breathing.frequencyHzAt(atMs) * 600) / 10;
  }

  /**
   * Forget beats/state before this time so memory stays bounded on long runs. Only memory is
   * affected: a later request for an earlier time replays the beat sequence from the start and
   * returns exactly what it would have returned before (at the cost of regenerating it).
   */
  discardBefore(ms: number): void {
    checkTime('ms', ms);
    this.train.discardBefore(ms);
  }

  /** Beats currently held in memory (diagnostics; bounded when discardBefore is called as streams advance). */
  get retainedBeats(): number {
    return this.train.items.length;
  }
}
