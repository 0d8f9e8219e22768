/**
 * Decoder throughput, in this process, on realistic inputs: UART firmware frames (COBS + CRC +
 * body + validation into a reading), BLE GATT notifications (decode + conversion to readings), and
 * MQTT payloads as JSON and as CBOR. Each runs for a fixed time; figures are per second of one core.
 */
import {
  decodeGatt, encodeHeartRate, encodePlxContinuous, encodeTemperature, frameToReading, gattToReadings,
} from '@vitalgate/firmware-bridge';
import { decodeFrame, decodePayload, encodeBody, encodeFrame, type ReadingBody, type UartFrame } from '@vitalgate/protocol';

export interface DecodeResult {
  uartFramesPerSec: number;
  uartMegabytesPerSec: number;
  gattNotificationsPerSec: number;
  jsonPayloadsPerSec: number;
  cborPayloadsPerSec: number;
  /** CBOR payload decode rate over JSON's, same readings, same validation. */
  cborToJsonRatio: number;
}

function rate(ms: number, items: readonly Uint8Array[], f: (b: Uint8Array) => void): { perSec: number; bytesPerSec: number } {
  for (let i = 0; i < 2000; i++) f(items[i % items.length]!);
  let n = 0;
  let bytes = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    for (let i = 0; i < 1000; i++) {
      const b = items[(n + i) % items.length]!;
      f(b);
      bytes += b.length;
    }
    n += 1000;
    t = performance.now();
  }
  const s = (t - t0) / 1000;
  return { perSec: Math.round(n / s), bytesPerSec: bytes / s };
}

export function runDecode(msPerCase = 1500): DecodeResult {
  const ecg = (seq: number): ReadingBody => ({ seq, ts: 1_800_000_000_000 + seq * 100, rate: 250, samples: Array.from({ length: 25 }, (_, i) => Math.round(1100 * Math.exp(-((i - 12) ** 2) / 4)) - 60 + (seq % 7)) });
  const hr = (seq: number): ReadingBody => ({ seq, ts: 1_800_000_000_000 + seq * 1000, values: { hr: 60 + (seq % 40) + 0.5 }, rr: [812.5, 830] });
  // The chest-strap mix: 10 ECG frames per HR value, a status frame now and then.
  const frames: Uint8Array[] = [];
  for (let i = 0; i < 220; i++) {
    const f: UartFrame = i % 22 === 21
      ? { type: 'status', deviceId: 'strap-1', seq: i, deviceTime: 1000 + i, battery: 80, leadOff: false, sensorError: false, charging: false, errorCode: 0 }
      : i % 11 === 10
        ? { type: 'scalar', deviceId: 'strap-1', seq: i, deviceTime: 1000 + i, stream: 'hr', values: (hr(i) as { values: Record<string, number> }).values, rr: [812.5, 830] }
        : { type: 'waveform', deviceId: 'strap-1', seq: i, deviceTime: 1000 + i, stream: 'ecg', rate: 250, samples: (ecg(i) as { samples: number[] }).samples };
    frames.push(encodeFrame(f).subarray(0, -1));
  }
  const uart = rate(msPerCase, frames, (b) => {
    const d = decodeFrame(b);
    if (!d.ok) throw new Error(d.reason);
    if (d.value.type === 'waveform' || d.value.type === 'scalar') {
      const r = frameToReading(d.value, 1_800_000_000_000);
      if (!r.ok) throw new Error(r.reason);
    }
  });
  const gattItems = [encodeHeartRate(72, [812.5, 830]), encodePlxContinuous(97.5, 71), encodeTemperature(36.85)];
  const gattBytes = gattItems.map((m) => m.bytes);
  let gi = 0;
  const gatt = rate(msPerCase, gattBytes, () => {
    const m = gattItems[gi++ % gattItems.length]!;
    const d = decodeGatt(m.characteristic, m.bytes);
    if (!d.ok) throw new Error(d.reason);
    gattToReadings(d.value, { seq: gi, ts: 1_800_000_000_000 });
  });
  const bodies = Array.from({ length: 110 }, (_, i) => (i % 11 === 10 ? hr(i) : ecg(i)));
  const streamOf = new Map<Uint8Array, 'ecg' | 'hr'>();
  const encoded = (enc: 'json' | 'cbor') => bodies.map((b) => {
    const bytes = encodeBody(b, enc);
    streamOf.set(bytes, 'samples' in b ? 'ecg' : 'hr');
    return bytes;
  });
  const check = (b: Uint8Array) => {
    const r = decodePayload(streamOf.get(b)!, b);
    if (!r.ok) throw new Error(r.reason);
  };
  const json = rate(msPerCase, encoded('json'), check);
  const cbor = rate(msPerCase, encoded('cbor'), check);
  return {
    uartFramesPerSec: uart.perSec,
    uartMegabytesPerSec: Math.round((uart.bytesPerSec / 1e6) * 100) / 100,
    gattNotificationsPerSec: gatt.perSec,
    jsonPayloadsPerSec: json.perSec,
    cborPayloadsPerSec: cbor.perSec,
    cborToJsonRatio: Math.round((cbor.perSec / json.perSec) * 100) / 100,
  };
}
