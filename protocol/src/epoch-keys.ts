/**
 * Epoch data keys: DK(patient, stream, epoch) = HKDF-SHA256(PMS, salt = none,
 *   info = "vitalgate/v1/dk" ‖ u8 len(patient) ‖ patient ‖ u8 streamId ‖ u32be epoch, L = 32).
 *
 * The length prefix keeps the info string unambiguous ("ab"+stream 1 can never equal "a"+...).
 * Keys are derived when needed and never stored, so the PMS is the only secret to protect.
 */
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';
import { assertValidId } from './ids.js';
import { STREAMS, type StreamName } from './streams.js';

export const DK_INFO_LABEL = 'vitalgate/v1/dk';
export const PMS_BYTES = 32;
export const MAX_EPOCH = 0xffffffff;

export function epochKeyInfo(patientId: string, stream: StreamName, epoch: number): Uint8Array {
  assertValidId('patient', patientId);
  if (!Number.isInteger(epoch) || epoch < 0 || epoch > MAX_EPOCH) throw new RangeError(`epoch ${epoch} is not a u32`);
  const label = utf8ToBytes(DK_INFO_LABEL);
  const patient = utf8ToBytes(patientId);
  const out = new Uint8Array(label.length + 1 + patient.length + 1 + 4);
  let o = 0;
  out.set(label, o); o += label.length;
  out[o++] = patient.length;
  out.set(patient, o); o += patient.length;
  out[o++] = STREAMS[stream].id;
  new DataView(out.buffer).setUint32(o, epoch, false);
  return out;
}

export function deriveEpochKey(pms: Uint8Array, patientId: string, stream: StreamName, epoch: number): Uint8Array {
  if (pms.length !== PMS_BYTES) throw new RangeError(`patient master secret must be ${PMS_BYTES} bytes`);
  return hkdf(sha256, pms, undefined, epochKeyInfo(patientId, stream, epoch), 32);
}
