/**
 * An Ethereum account's two small jobs in a browser that signs in with a key file: its checksummed
 * address (EIP-55) and an EIP-191 personal_sign (what SIWE and the gateway's request signatures
 * use), on the noble primitives the rest of protocol/ already carries. The dashboard signs in
 * with these instead of loading ethers first (ethers is over half of its bundle; it is loaded only
 * for break-glass, which sends a transaction). Both agree with ethers byte for byte (tested).
 *
 *   personal_sign(m) = secp256k1 signature over keccak256("\x19Ethereum Signed Message:\n" ‖ len(m) ‖ m)
 *                      as 0x r (32) ‖ s (32, low-s) ‖ v (27 + recovery bit), len in decimal bytes of UTF-8
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex, concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';

const ADDRESS_RE = /^0x[0-9a-fA-F]{40}$/;

/**
 * The EIP-55 form of a 0x address (any case). Throws on a string that is not 20 bytes of hex, or
 * whose mixed case is not its checksum (a typo in a checksummed address is caught, as ethers does).
 */
export function checksumAddress(address: string): string {
  if (!ADDRESS_RE.test(address)) throw new Error(`not an address: ${JSON.stringify(address.slice(0, 50))}`);
  const lower = address.slice(2).toLowerCase();
  const hash = bytesToHex(keccak_256(utf8ToBytes(lower)));
  let out = '0x';
  for (let i = 0; i < 40; i++) out += parseInt(hash[i]!, 16) >= 8 ? lower[i]!.toUpperCase() : lower[i]!;
  const given = address.slice(2);
  if (given !== lower && given !== given.toUpperCase() && `0x${given}` !== out) throw new Error(`bad address checksum: ${address}`);
  return out;
}

/** The EIP-191 hash a personal_sign signs. */
export function personalMessageHash(message: string): Uint8Array {
  const m = utf8ToBytes(message);
  return keccak_256(concatBytes(utf8ToBytes(`\x19Ethereum Signed Message:\n${m.length}`), m));
}

/** personal_sign of `message` with a 32-byte secp256k1 secret key: 0x + 130 hex (r ‖ s ‖ v). */
export function personalSign(secretKey: Uint8Array, message: string): string {
  // 'recovered' is recovery bit ‖ r ‖ s; Ethereum puts v = 27 + bit last.
  const sig = secp256k1.sign(personalMessageHash(message), secretKey, { prehash: false, format: 'recovered', lowS: true });
  return `0x${bytesToHex(sig.subarray(1))}${(27 + sig[0]!).toString(16)}`;
}
