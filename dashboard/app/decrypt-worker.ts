/**
 * Decryption off the UI thread: the clinician's encryption key lives here after sign-in, opens each
 * key envelope and then the sealed batch with the epoch key inside, and posts back the readings.
 * Checks the batch's id (SHA-256 of its bytes) before anything: a batch altered in storage is
 * reported as such, never drawn. Nothing here talks to the network.
 *
 *   in:  {type: "key", key: Uint8Array}
 *        {type: "open", req, id, patient (account), bytes: ArrayBuffer, envelopes: {[stream/epoch]: Uint8Array}, columns?}
 *        {type: "open-many", items: [open, …]}: several batches in one message (a page of a history)
 *   out: {type: "opened", req, id, ok: true, kind, stream, deviceId, epoch, readings | rows | wave} | {type: "opened", req, id, ok: false, reason}
 *        {type: "opened-many", results: [opened, …]}: the answers to an open-many, a few dozen at a
 *        time (a message each cost the page's thread ~0.5 ms: an hour of ECG is 1800 batches)
 *
 * `readings` for a readings batch; `rows` (summary.ts) for a summary. With `columns`, a waveform
 * batch comes back as `wave` instead: sample times (s) and values (channel 0) in typed arrays,
 * transferred rather than copied, which is what lets an hour of ECG reach the chart in time.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { EnvelopeOpener, openBatch, openSummary, parseBatch, sampleTime, STREAMS, type WaveformBody } from '@vitalgate/protocol';

interface KeyMsg { type: 'key'; key: Uint8Array }
interface OpenMsg { type: 'open'; req: number; id: string; patient: string; bytes: ArrayBuffer; envelopes: Record<string, Uint8Array>; columns?: boolean }
interface OpenManyMsg { type: 'open-many'; items: OpenMsg[] }

const scope = self as unknown as { onmessage: ((e: MessageEvent<KeyMsg | OpenMsg | OpenManyMsg>) => void) | null; postMessage(m: unknown, transfer?: Transferable[]): void };
/**
 * Opens envelopes with the clinician's key, keeping the wrapping key of each ephemeral key seen: a
 * gateway seals a day of envelopes to one clinician under one ephemeral key, so a week is ~7 ECDHs.
 */
let opener: EnvelopeOpener | undefined;
/**
 * Epoch keys already opened, by "patient account/stream/epoch": one envelope opening per epoch, not
 * per batch. The account, not the header's patient id, which is only unique within one gateway.
 */
const epochKeys = new Map<string, Uint8Array>();

/** Answers of an open-many gathered before they are posted. */
const ANSWERS_PER_MESSAGE = 32;

scope.onmessage = (e) => {
  const m = e.data;
  if (m.type === 'key') {
    opener = new EnvelopeOpener(m.key); // not a key: every opening says so
    epochKeys.clear();
    return;
  }
  if (m.type === 'open') {
    const [answer, transfer] = open(m);
    return scope.postMessage(answer, transfer);
  }
  let results: unknown[] = [];
  let transfer: Transferable[] = [];
  for (let i = 0; i < m.items.length; i++) {
    const item = m.items[i]!;
    let answer: Answer[0];
    let t: Answer[1];
    // One batch that throws must not leave the rest of the message unanswered.
    try {
      [answer, t] = open(item);
    } catch (err) {
      [answer, t] = [{ type: 'opened', req: item.req, id: item.id, ok: false, reason: `could not be opened: ${(err as Error).message}` }, []];
    }
    results.push(answer);
    transfer = transfer.concat(t);
    if (results.length === ANSWERS_PER_MESSAGE || i === m.items.length - 1) {
      scope.postMessage({ type: 'opened-many', results }, transfer);
      results = [];
      transfer = [];
    }
  }
};

type Answer = [Record<string, unknown>, Transferable[]];

function open(m: OpenMsg): Answer {
  const fail = (reason: string): Answer => [{ type: 'opened', req: m.req, id: m.id, ok: false, reason }, []];
  if (!opener) return fail('not signed in');
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
    const r = opener.open(env, { patientId: h.patientId, stream: h.stream, epoch: h.epoch });
    if (!r.ok) return fail(`the envelope does not open: ${r.reason}`);
    dk = r.value;
    epochKeys.set(cacheKey, dk);
  }
  const head = { type: 'opened', req: m.req, id: m.id, ok: true, kind: h.kind, stream: h.stream, deviceId: h.deviceId, epoch: h.epoch };
  if (h.kind !== 'readings') {
    const rows = openSummary(dk, p.value);
    if (!rows.ok) return fail(rows.reason);
    return [{ ...head, rows: rows.value }, []];
  }
  const r = openBatch(dk, p.value);
  if (!r.ok) return fail(r.reason);
  const spec = STREAMS[h.stream];
  if (!m.columns || spec.kind !== 'waveform') return [{ ...head, readings: r.value }, []];
  const C = spec.channels.length;
  let n = 0;
  for (const b of r.value as WaveformBody[]) n += b.samples.length / C;
  const t = new Float64Array(n);
  const v = new Float32Array(n);
  let j = 0;
  for (const b of r.value as WaveformBody[]) {
    for (let i = 0; i < b.samples.length / C; i++, j++) { t[j] = sampleTime(b, i) / 1000; v[j] = b.samples[i * C]!; }
  }
  return [{ ...head, wave: { t, v } }, [t.buffer, v.buffer]];
}
