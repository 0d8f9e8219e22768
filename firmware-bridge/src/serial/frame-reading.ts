/** A decoded UART reading frame turned into a validated reading body on wall time. */
import { validateBody, fail, type ReadingBody, type Result, type StreamName, type UartFrame } from '@vitalgate/protocol';

export function frameToReading(frame: UartFrame, wallTs: number): Result<{ stream: StreamName; body: ReadingBody }> {
  let raw: unknown;
  if (frame.type === 'waveform') raw = { seq: frame.seq, ts: wallTs, rate: frame.rate, samples: frame.samples };
  else if (frame.type === 'scalar') raw = { seq: frame.seq, ts: wallTs, values: frame.values, ...(frame.rr ? { rr: frame.rr } : {}) };
  else return fail(`${frame.type} frames carry no reading`);
  const v = validateBody(frame.stream, raw);
  return v.ok ? { ok: true, value: { stream: frame.stream, body: v.value } } : v;
}
