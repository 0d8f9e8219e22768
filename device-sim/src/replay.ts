/**
 * A PhysioNet recording played back as a live device: one ECG lead as the `ecg` stream, the PLETH
 * signal (if any) as `ppg`, and, when the record has beat annotations, heart rate with RR intervals
 * every second from those beats, so the numbers agree with the waveform as on a real strap.
 *
 * Time: sample i of a signal is stamped start + i/rate (record time laid onto the wall clock from
 * the moment the replay starts). `speed` changes only how fast frames are released, so a replay at
 * 10× carries the same timestamps a 1× replay would, just sooner. With `loop` the record repeats
 * and timestamps keep increasing.
 */
import { existsSync } from 'node:fs';
import type { StreamName } from '@vitalgate/protocol';
import type { DeviceReading } from './device.js';
import { heartRateAt } from './heart-rate.js';
import { readWfdbAnnotations, readWfdbRecord, isBeatAnnotation, type WfdbRecord } from '@vitalgate/biosignal';

export interface ReplayOptions {
  deviceId: string;
  patientId: string;
  /** Which ECG lead to send (its description, e.g. "MLII"); default the first ECG-like signal. */
  lead?: string;
  speed?: number;
  loop?: boolean;
}

interface Track {
  stream: StreamName;
  signal: number;
  rate: number;
  frame: number;
  /** Converts one digital sample to the stream's integer unit; NaN for invalid samples. */
  convert: (d: number) => number;
  next: number;
}

const PLETH = /^(pleth|ppg)/i;
const NOT_ECG = /^(pleth|ppg|resp|abp|art|pap|cvp|spo2|co2|temp|bp)/i;

/** µV per digital unit for an ECG signal in mV (or µV, or V). */
function ecgScale(units: string, gain: number): number {
  const u = units.trim().toLowerCase();
  const perUnit = u === 'uv' || u === 'µv' ? 1 : u === 'v' ? 1e6 : 1000;
  return perUnit / gain;
}

export class ReplayDevice {
  readonly deviceId: string;
  readonly patientId: string;
  readonly durationMs: number;
  private readonly tracks: Track[] = [];
  private beats: number[] = [];
  private hrNext = 1;
  private seq = 0;
  private startMs = 0;
  private readonly speed: number;

  private constructor(private readonly rec: WfdbRecord, o: ReplayOptions, beatSamples: number[]) {
    this.deviceId = o.deviceId;
    this.patientId = o.patientId;
    this.speed = o.speed ?? 1;
    if (!(this.speed > 0 && this.speed <= 1000)) throw new Error('replay speed must be in (0, 1000]');
    const sigs = rec.header.signals;
    const ecgIdx = o.lead !== undefined
      ? sigs.findIndex((s) => s.description === o.lead)
      : sigs.findIndex((s) => !NOT_ECG.test(s.description));
    if (o.lead !== undefined && ecgIdx < 0) throw new Error(`record ${rec.header.record} has no signal "${o.lead}" (signals: ${sigs.map((s) => s.description).join(', ')})`);
    const add = (stream: StreamName, i: number, convert: (d: number) => number) => {
      const rate = rec.sampleRate(i);
      if (!Number.isInteger(rate)) throw new Error(`signal ${sigs[i]!.description} samples at ${rate} Hz; only whole-Hz rates can be replayed`);
      this.tracks.push({ stream, signal: i, rate, frame: Math.max(1, Math.round(rate / 10)), convert, next: 0 });
    };
    if (ecgIdx >= 0) {
      const s = sigs[ecgIdx]!;
      const k = ecgScale(s.units, s.gain);
      const bad = rec.invalidValue(ecgIdx);
      add('ecg', ecgIdx, (d) => (d === bad ? NaN : Math.round((d - s.baseline) * k)));
    }
    const plethIdx = sigs.findIndex((s) => PLETH.test(s.description));
    if (plethIdx >= 0) {
      const s = sigs[plethIdx]!;
      const bad = rec.invalidValue(plethIdx);
      add('ppg', plethIdx, (d) => (d === bad ? NaN : d - s.baseline));
    }
    if (this.tracks.length === 0) throw new Error(`record ${rec.header.record} has neither an ECG lead nor a PLETH signal to replay`);
    this.durationMs = (rec.nFrames / rec.header.fs) * 1000;
    this.beats = beatSamples.map((s) => (s / rec.header.fs) * 1000);
    this.loop = o.loop ?? false;
  }
  private readonly loop: boolean;

  static async open(hea: string, o: ReplayOptions): Promise<ReplayDevice> {
    const rec = await readWfdbRecord(hea);
    const atr = hea.replace(/\.hea$/, '.atr');
    const beats = existsSync(atr) ? (await readWfdbAnnotations(atr)).filter((a) => isBeatAnnotation(a.code)).map((a) => a.sample) : [];
    return new ReplayDevice(rec, o, beats);
  }

  /** The streams this replay sends. */
  get streams(): StreamName[] {
    return [...this.tracks.map((t) => t.stream), ...(this.beats.length ? ['hr' as const] : [])];
  }

  start(now: number): void {
    this.startMs = now;
  }

  /** Record time (ms from the record's start, counting loops) that has been released by `now`. */
  private released(now: number): number {
    return (now - this.startMs) * this.speed;
  }

  due(now: number, until = Infinity): DeviceReading[] {
    const horizon = Math.min(this.released(now), this.released(until));
    const limit = this.loop ? Infinity : this.durationMs;
    const out: Array<DeviceReading & { at: number }> = [];
    const total = this.rec.nFrames;
    for (const t of this.tracks) {
      const spf = this.rec.header.signals[t.signal]!.samplesPerFrame;
      const perLoop = total * spf;
      for (;;) {
        const endT = ((t.next + t.frame) / t.rate) * 1000;
        if (endT > horizon || endT > limit + 1e-9) break;
        const data = this.rec.digital[t.signal]!;
        let run: number[] = [];
        let runStart = t.next;
        const flush = () => {
          if (run.length) out.push({ at: endT, stream: t.stream, body: { seq: 0, ts: this.startMs + Math.round((runStart / t.rate) * 1000), rate: t.rate, samples: run } });
          run = [];
        };
        for (let i = t.next; i < t.next + t.frame; i++) {
          const v = t.convert(data[i % perLoop]!);
          if (Number.isNaN(v)) {
            flush();
            runStart = i + 1;
          } else {
            run.push(v);
          }
        }
        flush();
        t.next += t.frame;
      }
    }
    if (this.beats.length) {
      for (;;) {
        const at = this.hrNext * 1000;
        if (at > horizon || at > limit) break;
        const hr = heartRateAt(this.beatsIn(at - 6000, at), at);
        if (hr) out.push({ at, stream: 'hr', body: { seq: 0, ts: this.startMs + at, values: { hr: hr.hr }, ...(hr.rr ? { rr: hr.rr } : {}) } });
        this.hrNext++;
      }
    }
    out.sort((a, b) => a.at - b.at);
    for (const r of out) r.body.seq = this.seq++;
    return out.map(({ stream, body }) => ({ stream, body }));
  }

  /** Beat times (record ms, unrolled over loops) in (from, to]. */
  private beatsIn(from: number, to: number): number[] {
    const d = this.durationMs;
    const out: number[] = [];
    for (let k = Math.max(0, Math.floor(from / d)); k * d <= to; k++) {
      for (const b of this.beats) {
        const t = b + k * d;
        if (t > from && t <= to) out.push(t);
      }
    }
    return out;
  }

  get finished(): boolean {
    return !this.loop && this.tracks.every((t) => ((t.next + t.frame) / t.rate) * 1000 > this.durationMs + 1e-9);
  }
}
