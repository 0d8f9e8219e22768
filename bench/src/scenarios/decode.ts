/**
 * Decoder throughput, in this process, on realistic inputs: UART firmware frames (COBS + CRC +
 * body + validation into a reading), BLE GATT notifications (decode + conversion to readings), and
 * MQTT payloads as JSON and as CBOR; and sealing batches (CBOR + XChaCha20-Poly1305 + SHA-256 id)
 * with noble's cipher and with OpenSSL's (`@vitalgate/protocol/native`, what the gateway uses), side
 * by side. Each runs for a fixed time; figures are per second of one core.
 */
import {
  decodeGatt, encodeHeartRate, encodePlxContinuous, encodeTemperature, frameToReading, gattToReadings,
} from '@vitalgate/firmware-bridge';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { decodeFrame, decodePayload, encodeBody, encodeFrame, sealBatch, useBatchCipher, type ReadingBody, type UartFrame } from '@vitalgate/protocol';
import { nativeXChaCha20Poly1305 } from '@vitalgate/protocol/native';

export interface DecodeResult {
  uartFramesPerSec: number;
  uartMegabytesPerSec: number;
  gattNotificationsPerSec: number;
  jsonPayloadsPerSec: number;
  cborPayloadsPerSec: number;
  /** CBOR payload decode rate over JSON's, same readings, same validation. */
  cborToJsonRatio: number;
  /** Batches sealed per second: a 2 s HR batch (2 readings) and a 2 s ECG batch (20 frames, 500 samples), noble against native. */
  seal: Array<{ batch: string; bytes: number; noblePerSec: number; nativePerSec: number; nativeOverNoble: number }>;
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
  const key = new Uint8Array(32).fill(7);
  const sealCases = [
    { batch: 'hr 2 s', stream: 'hr' as const, bodies: [hr(1), hr(2)] },
    { batch: 'ecg 2 s', stream: 'ecg' as const, bodies: Array.from({ length: 20 }, (_, i) => ecg(i)) },
  ];
  const seal = sealCases.map((c) => {
    const input = { stream: c.stream, patientId: 'bench-p', deviceId: 'bench-d', epoch: 1, seq: 1, bodies: c.bodies };
    const bytes = sealBatch(key, input).bytes.length;
    const once = [new Uint8Array(0)];
    const run = () => rate(msPerCase / 2, once, () => { sealBatch(key, input); }).perSec;
    useBatchCipher(xchacha20poly1305);
    const noble = run();
    useBatchCipher(nativeXChaCha20Poly1305);
    const native = run();
    useBatchCipher(xchacha20poly1305);
    return { batch: c.batch, bytes, noblePerSec: noble, nativePerSec: native, nativeOverNoble: Math.round((native / noble) * 100) / 100 };
  });
  return {
    seal,
    uartFramesPerSec: uart.perSec,
    uartMegabytesPerSec: Math.round((uart.bytesPerSec / 1e6) * 100) / 100,
    gattNotificationsPerSec: gatt.perSec,
    jsonPayloadsPerSec: json.perSec,
    cborPayloadsPerSec: cbor.perSec,
    cborToJsonRatio: Math.round((cbor.perSec / json.perSec) * 100) / 100,
  };
}
