/**
 * Decryption off the UI thread: the clinician's encryption key lives here after sign-in, opens each
 * key envelope and then the sealed batch with the epoch key inside, and posts back the readings.
 * Checks the batch's id (SHA-256 of its bytes) before anything: a batch altered in storage is
 * reported as such, never drawn. Nothing here talks to the network.
 *
 *   in:  {type: "key", key: Uint8Array}
 *        {type: "open", req, id, patient (account), bytes: ArrayBuffer, envelopes: {[stream/epoch]: Uint8Array}, columns?}
 *   out: {type: "opened", req, id, ok: true, kind, stream, deviceId, epoch, readings | rows | wave} | {type: "opened", req, id, ok: false, reason}
 *
 * `readings` for a readings batch; `rows` (summary.ts) for a summary. With `columns`, a waveform
 * batch comes back as `wave` instead: sample times (s) and values (channel 0) in typed arrays,
 * transferred rather than copied, which is what lets an hour of ECG reach the chart in time.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { openBatch, openEnvelope, openSummary, parseBatch, sampleTime, STREAMS, type WaveformBody } from '@vitalgate/protocol';

interface KeyMsg { type: 'key'; key: Uint8Array }
interface OpenMsg { type: 'open'; req: number; id: string; patient: string; bytes: ArrayBuffer; envelopes: Record<string, Uint8Array>; columns?: boolean }

const scope = self as unknown as { onmessage: ((e: MessageEvent<KeyMsg | OpenMsg>) => void) | null; postMessage(m: unknown, transfer?: Transferable[]): void };
let key: Uint8Array | undefined;
/**
 * Epoch keys already opened, by "patient account/stream/epoch": one envelope opening per epoch, not
 * per batch. The account, not the header's patient id, which is only unique within one gateway.
 */
const epochKeys = new Map<string, Uint8Array>();

scope.onmessage = (e) => {
  const m = e.data;
  if (m.type === 'key') {
    key = m.key;
    epochKeys.clear();
    return;
  }
  const fail = (reason: string) => scope.postMessage({ type: 'opened', req: m.req, id: m.id, ok: false, reason });
  if (!key) return fail('not signed in');
  const bytes = new Uint8Array(m.bytes);
  if (bytesToHex(sha256(bytes)) !== m.id) return fail('the batch does not hash to its id: altered in storage or in transit');
  const p = parseBatch(bytes);
  if (!p.ok) return fail(`not a sealed batch: ${p.reason}`);
  const h = p.value.header;
  const k = `${h.stream}/${h.epoch}`;
  const cacheKey = `${m.patient}/${k}`;
  let dk = epochKeys.get(cacheKey);
  if (!dk) {
    const env = m.envelopes[k];
    if (!env) return fail(`no key envelope for ${h.stream} epoch ${h.epoch}`);
    const r = openEnvelope(key, env, { patientId: h.patientId, stream: h.stream, epoch: h.epoch });
    if (!r.ok) return fail(`the envelope does not open: ${r.reason}`);
    dk = r.value;
    epochKeys.set(cacheKey, dk);
  }
  const head = { type: 'opened', req: m.req, id: m.id, ok: true, kind: h.kind, stream: h.stream, deviceId: h.deviceId, epoch: h.epoch };
  if (h.kind !== 'readings') {
    const rows = openSummary(dk, p.value);
    if (!rows.ok) return fail(rows.reason);
    return scope.postMessage({ ...head, rows: rows.value });
  }
  const r = openBatch(dk, p.value);
  if (!r.ok) return fail(r.reason);
  const spec = STREAMS[h.stream];
  if (!m.columns || spec.kind !== 'waveform') return scope.postMessage({ ...head, readings: r.value });
  const C = spec.channels.length;
  let n = 0;
  for (const b of r.value as WaveformBody[]) n += b.samples.length / C;
  const t = new Float64Array(n);
  const v = new Float32Array(n);
  let j = 0;
  for (const b of r.value as WaveformBody[]) {
    for (let i = 0; i < b.samples.length / C; i++, j++) { t[j] = sampleTime(b, i) / 1000; v[j] = b.samples[i * C]!; }
  }
  scope.postMessage({ ...head, wave: { t, v } }, [t.buffer, v.buffer]);
};
