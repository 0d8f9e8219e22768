/**
 * The patient's handle on chain (Registry `patientRef`):
 *   patientRef = HKDF-SHA256(PMS, salt = none, info = "vitalgate/v1/patient-ref" ‖ u8 len(patient) ‖ patient, L = 32)
 *
 * A plain hash of the patient id would let anyone who can guess ids ("patient-0001", a hospital
 * number) find the patient's account, and so their consents and break-glass history, on a public
 * chain. Keyed by the patient's master secret, the ref can be computed only where that secret is:
 * on the patient's own gateway (and wherever its key backup is recovered).
 */
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { PMS_BYTES } from './epoch-keys.js';
import { assertValidId } from './ids.js';

export const PATIENT_REF_INFO_LABEL = 'vitalgate/v1/patient-ref';

/** The patient's keyed on-chain ref, as 0x-prefixed hex of 32 bytes. */
export function derivePatientRef(pms: Uint8Array, patientId: string): `0x${string}` {
  if (pms.length !== PMS_BYTES) throw new RangeError(`patient master secret must be ${PMS_BYTES} bytes`);
  assertValidId('patient', patientId);
  const label = utf8ToBytes(PATIENT_REF_INFO_LABEL);
  const patient = utf8ToBytes(patientId);
  const info = new Uint8Array(label.length + 1 + patient.length);
  info.set(label, 0);
  info[label.length] = patient.length;
  info.set(patient, label.length + 1);
  return `0x${bytesToHex(hkdf(sha256, pms, undefined, info, 32))}`;
}
