/** What the serial source tests share: a sink that collects readings, polling, and an ECG frame. */
import type { ReadingBody, StreamName, UartFrame } from '@vitalgate/protocol';
import type { ReadingSink } from '../../src/index.js';

export interface Got { patientId: string; deviceId: string; stream: StreamName; body: ReadingBody }
export function collectingSink(): ReadingSink & { got: Got[] } {
  const got: Got[] = [];
  return { got, acceptReading: (patientId, deviceId, stream, body) => void got.push({ patientId, deviceId, stream, body }) };
}
export const until = async (cond: () => boolean, ms = 5000, what = 'condition') => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};
export const BOOT = 1_000_000;
export const ecgFrame = (seq: number): UartFrame => ({ type: 'waveform', deviceId: 'strap-1', seq, deviceTime: BOOT + seq * 100, stream: 'ecg', rate: 250, samples: Array.from({ length: 25 }, (_, i) => i * 40 - 500 + seq) });
