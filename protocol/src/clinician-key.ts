/**
 * The clinician key file, format v1: what `vitalgate clinicians add --generate` writes, `vitalgate
 * fetch` reads and the dashboard imports. JSON:
 *
 *   {"v": 1, "address": "0x…" (checksummed; optional, checked when present),
 *    "accountKey": "0x" + 64 hex     secp256k1 secret key of the chain account: signs in (SIWE)
 *    "encryptionKey": "0x" + 64 hex  secp256k1 secret key whose public half is Registry.encryptionKeyOf:
 *                                    opens key envelopes
 *    "encryptionPublicKey": "0x" + 66 hex (compressed; informative)}
 *
 * Two keys, not one: the encryption key never signs, and the account key never decrypts. The parser
 * never throws: every problem is a reason.
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { fail, ok, type Result } from './reading.js';

export interface ClinicianKeyMaterial {
  /** The account's address, lowercase 0x hex (derived from accountKey). */
  address: string;
  accountKey: Uint8Array;
  encryptionKey: Uint8Array;
  encryptionPublicKey: Uint8Array;
}

const HEX32 = /^0x[0-9a-fA-F]{64}$/;

/** The Ethereum address of a secp256k1 secret key: the last 20 bytes of keccak256(uncompressed point). */
export function accountAddressOf(secretKey: Uint8Array): string {
  return `0x${bytesToHex(keccak_256(secp256k1.getPublicKey(secretKey, false).subarray(1)).subarray(12))}`;
}

export function parseClinicianKey(text: string): Result<ClinicianKeyMaterial> {
  let j: Record<string, unknown>;
  try {
    const v: unknown = JSON.parse(text);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return fail('not a clinician key file: expected a JSON object');
    j = v as Record<string, unknown>;
  } catch {
    return fail('not a clinician key file: not JSON');
  }
  if (j.v !== 1) return fail(`unknown key file version ${JSON.stringify(j.v)?.slice(0, 20)} (expected 1)`);
  if (typeof j.accountKey !== 'string' || !HEX32.test(j.accountKey)) return fail('accountKey must be 0x and 64 hex digits');
  if (typeof j.encryptionKey !== 'string' || !HEX32.test(j.encryptionKey)) return fail('encryptionKey must be 0x and 64 hex digits');
  const accountKey = hexToBytes(j.accountKey.slice(2));
  const encryptionKey = hexToBytes(j.encryptionKey.slice(2));
  let address: string;
  let encryptionPublicKey: Uint8Array;
  try {
    address = accountAddressOf(accountKey);
  } catch {
    return fail('accountKey is not a valid secp256k1 secret key');
  }
  try {
    encryptionPublicKey = secp256k1.getPublicKey(encryptionKey, true);
  } catch {
    return fail('encryptionKey is not a valid secp256k1 secret key');
  }
  if (j.address !== undefined && (typeof j.address !== 'string' || j.address.toLowerCase() !== address)) {
    return fail(`address ${String(j.address).slice(0, 42)} is not the account of accountKey (${address})`);
  }
  return ok({ address, accountKey, encryptionKey, encryptionPublicKey });
}
