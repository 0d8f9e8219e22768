/**
 * Decryption off the UI thread: the clinician's encryption key lives here after sign-in, opens each
 * key envelope and then the sealed batch with the epoch key inside, and posts back the readings.
 * Checks the batch's id (SHA-256 of its bytes) before anything: a batch altered in storage is
 * reported as such, never drawn. Nothing here talks to the network.
 *
 *   in:  {type: "key", key: Uint8Array}
 *        {type: "open", req, id, patient (account), bytes: ArrayBuffer, envelopes: {[stream/epoch]: Uint8Array}}
 *   out: {type: "opened", req, id, ok: true, stream, deviceId, epoch, readings} | {type: "opened", req, id, ok: false, reason}
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { openBatch, openEnvelope, parseBatch } from '@vitalgate/protocol';

interface KeyMsg { type: 'key'; key: Uint8Array }
interface OpenMsg { type: 'open'; req: number; id: string; patient: string; bytes: ArrayBuffer; envelopes: Record<string, Uint8Array> }

const scope = self as unknown as { onmessage: ((e: MessageEvent<KeyMsg | OpenMsg>) => void) | null; postMessage(m: unknown): void };
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
  const r = openBatch(dk, p.value);
  if (!r.ok) return fail(r.reason);
  scope.postMessage({ type: 'opened', req: m.req, id: m.id, ok: true, stream: h.stream, deviceId: h.deviceId, epoch: h.epoch, readings: r.value });
};
