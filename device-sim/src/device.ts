/**
 * One simulated wearable: a body model sampled on the device's own schedule. A reading is produced
 * once the time it describes has passed (a waveform frame when its last sample is taken), exactly
 * as firmware would, so a run of S seconds always yields the same readings for the same seed.
 */
import { STREAMS, type ReadingBody, type StreamName } from '@vitalgate/protocol';
import { heartRateAt } from './heart-rate.js';
import { BodyModel } from './signals/index.js';
import type { Profile, StreamPlan } from './profiles.js';

export interface DeviceReading {
  stream: StreamName;
  body: ReadingBody;
}

interface StreamClock {
  plan: StreamPlan;
  /** Index of the next frame or value, counted from the device's start. */
  next: number;
}

const round = (x: number, decimals: number) => Math.round(x * 10 ** decimals) / 10 ** decimals;

export class SimDevice {
  private seq = 0;
  private readonly clocks: StreamClock[];
  readonly body: BodyModel;

  constructor(
    readonly deviceId: string,
    readonly patientId: string,
    readonly profile: Profile,
    readonly startMs: number,
    seed: number,
    body?: BodyModel,
  ) {
    this.body = body ?? new BodyModel({ seed, startMs });
    this.clocks = profile.streams.map((plan) => ({ plan, next: 0 }));
  }

  get sent(): number {
    return this.seq;
  }

  /** Start time of frame/value `i` of a stream, ms. */
  private static startOf(plan: StreamPlan, startMs: number, i: number): number {
    return plan.kind === 'waveform'
      ? startMs + Math.round((i * plan.frameSamples * 1000) / plan.rateHz)
      : startMs + i * plan.periodMs;
  }

  /** Readings that became complete by `now` (and before `until`, the end of the run), in time order. */
  due(now: number, until = Infinity): DeviceReading[] {
    const out: Array<DeviceReading & { at: number }> = [];
    for (const c of this.clocks) {
      for (;;) {
        const t = SimDevice.startOf(c.plan, this.startMs, c.next);
        const complete = c.plan.kind === 'waveform' ? SimDevice.startOf(c.plan, this.startMs, c.next + 1) : t;
        if (complete > now || complete > until) break;
        out.push({ at: complete, stream: c.plan.stream, body: this.make(c.plan, t) });
        c.next++;
      }
    }
    out.sort((a, b) => a.at - b.at);
    for (const r of out) r.body.seq = this.seq++;
    this.body.discardBefore(now - 10_000);
    return out.map(({ stream, body }) => ({ stream, body }));
  }

  private make(plan: StreamPlan, t: number): ReadingBody {
    if (plan.kind === 'waveform') {
      const samples = plan.stream === 'ppg' ? this.body.ppg(t, plan.frameSamples, plan.rateHz) : this.body.ecg(t, plan.frameSamples, plan.rateHz);
      return { seq: 0, ts: t, rate: plan.rateHz, samples };
    }
    switch (plan.stream) {
      case 'hr': return this.heartRate(t);
      case 'spo2': return { seq: 0, ts: t, values: { spo2: this.body.spo2(t), pr: this.heartRate(t).values.hr! } };
      case 'temp': return { seq: 0, ts: t, values: { temp: this.body.temperature(t) } };
      case 'resp': return { seq: 0, ts: t, values: { resp: round(this.body.respirationRate(t), 1) } };
      case 'bp': {
        const hr = this.heartRate(t).values.hr!;
        const sys = Math.round(105 + (hr - 60) * 0.5 + 8 * Math.sin(t / 3.6e6));
        const dia = Math.round(68 + (hr - 60) * 0.3 + 5 * Math.sin(t / 3.6e6));
        return { seq: 0, ts: t, values: { sys, dia, map: Math.round(dia + (sys - dia) / 3), pr: hr } };
      }
      case 'glucose': return { seq: 0, ts: t, values: { glucose: Math.round(95 + 15 * Math.sin(t / 5.4e6)) } };
      default: throw new Error(`profile stream ${plan.stream} (${STREAMS[plan.stream].title}) has no simulated source`);
    }
  }

  private heartRate(t: number): { seq: number; ts: number; values: { hr: number }; rr?: number[] } {
    const h = heartRateAt(this.body.beats(Math.max(this.startMs, t - 6000), t + 1e-9), t);
    if (!h) return { seq: 0, ts: t, values: { hr: round(this.body.meanHrBpm, 1) } };
    return { seq: 0, ts: t, values: { hr: h.hr }, ...(h.rr ? { rr: h.rr } : {}) };
  }
}
