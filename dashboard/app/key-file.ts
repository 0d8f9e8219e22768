/** The clinician key file in the browser (format: protocol/src/clinician-key.ts). */
import { bytesToHex } from '@noble/hashes/utils.js';
import { parseClinicianKey } from '@vitalgate/protocol';

export interface ClinicianKey { address: string; accountKey: string; encryptionKey: Uint8Array }

export function parseKeyFile(text: string): ClinicianKey {
  const r = parseClinicianKey(text);
  if (!r.ok) throw new Error(`not a usable key file: ${r.reason}`);
  return { address: r.value.address, accountKey: `0x${bytesToHex(r.value.accountKey)}`, encryptionKey: r.value.encryptionKey };
}
