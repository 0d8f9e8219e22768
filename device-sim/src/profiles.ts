/**
 * Device profiles: which streams a simulated device sends and how it frames them. Waveforms are sent
 * as frames of consecutive samples; scalars at a fixed period.
 */
import type { StreamName } from '@vitalgate/protocol';

export type StreamPlan =
  | { stream: StreamName; kind: 'waveform'; rateHz: number; frameSamples: number }
  | { stream: StreamName; kind: 'scalar'; periodMs: number };

export interface Profile {
  name: string;
  description: string;
  streams: StreamPlan[];
}

export const PROFILES: Readonly<Record<string, Profile>> = {
  mixed: {
    name: 'mixed',
    description: 'multi-sensor patch: ECG 250 Hz (25-sample frames), PPG 64 Hz (32-sample frames), HR+RR 1 Hz, SpO2 1 Hz, temperature every 10 s',
    streams: [
      { stream: 'ecg', kind: 'waveform', rateHz: 250, frameSamples: 25 },
      { stream: 'ppg', kind: 'waveform', rateHz: 64, frameSamples: 32 },
      { stream: 'hr', kind: 'scalar', periodMs: 1000 },
      { stream: 'spo2', kind: 'scalar', periodMs: 1000 },
      { stream: 'temp', kind: 'scalar', periodMs: 10_000 },
    ],
  },
  // The same signals in fewer, larger messages (4.1 per second instead of 14.1): what a device
  // that buffers a second of waveform before sending costs the broker and gateway.
  'mixed-1s': {
    name: 'mixed-1s',
    description: 'the mixed patch sending each waveform in 1 s frames: ECG 250 Hz (250-sample frames), PPG 64 Hz (64-sample frames), HR+RR 1 Hz, SpO2 1 Hz, temperature every 10 s',
    streams: [
      { stream: 'ecg', kind: 'waveform', rateHz: 250, frameSamples: 250 },
      { stream: 'ppg', kind: 'waveform', rateHz: 64, frameSamples: 64 },
      { stream: 'hr', kind: 'scalar', periodMs: 1000 },
      { stream: 'spo2', kind: 'scalar', periodMs: 1000 },
      { stream: 'temp', kind: 'scalar', periodMs: 10_000 },
    ],
  },
  'chest-strap': {
    name: 'chest-strap',
    description: 'ECG chest strap: ECG 250 Hz (25-sample frames), HR+RR 1 Hz, respiration rate every 5 s',
    streams: [
      { stream: 'ecg', kind: 'waveform', rateHz: 250, frameSamples: 25 },
      { stream: 'hr', kind: 'scalar', periodMs: 1000 },
      { stream: 'resp', kind: 'scalar', periodMs: 5000 },
    ],
  },
  'pulse-ox': {
    name: 'pulse-ox',
    description: 'fingertip pulse oximeter: PPG 64 Hz (32-sample frames), SpO2 with pulse rate 1 Hz',
    streams: [
      { stream: 'ppg', kind: 'waveform', rateHz: 64, frameSamples: 32 },
      { stream: 'spo2', kind: 'scalar', periodMs: 1000 },
    ],
  },
  vitals: {
    name: 'vitals',
    description: 'spot-check vitals: blood pressure every 60 s, glucose every 60 s, temperature every 10 s',
    streams: [
      { stream: 'bp', kind: 'scalar', periodMs: 60_000 },
      { stream: 'glucose', kind: 'scalar', periodMs: 60_000 },
      { stream: 'temp', kind: 'scalar', periodMs: 10_000 },
    ],
  },
};

/** Messages per second one device of this profile sends. */
export function messagesPerSecond(p: Profile): number {
  return p.streams.reduce((n, s) => n + (s.kind === 'waveform' ? s.rateHz / s.frameSamples : 1000 / s.periodMs), 0);
}

export function getProfile(name: string): Profile {
  const p = PROFILES[name];
  if (!p) throw new Error(`unknown profile "${name}" (known: ${Object.keys(PROFILES).join(', ')})`);
  return p;
}
