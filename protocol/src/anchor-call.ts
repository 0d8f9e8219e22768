/**
 * DataAnchor.isRecorded(address submitter, bytes32 root) as a JSON-RPC eth_call, for a browser that
 * checks anchors without loading ethers (dashboard/app/proof.ts). ABI encoding of two static words:
 *
 *   data   = selector (first 4 bytes of keccak256("isRecorded(address,bytes32)"))
 *            ‖ submitter left-padded to 32 bytes ‖ root (32 bytes)
 *   result = one 32-byte word, 0 or 1
 *
 * Agrees with ethers' Interface (tested). The decoder never throws.
 */
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { fail, ok, type Result } from './reading.js';

const SELECTOR = bytesToHex(keccak_256(utf8ToBytes('isRecorded(address,bytes32)')).subarray(0, 4));
const ADDRESS_RE = /^0x[0-9a-fA-F]{40}$/;
const WORD_RE = /^0x[0-9a-fA-F]{64}$/;

/** The eth_call data for isRecorded(submitter, root). Throws on a malformed address or root (a caller's error). */
export function isRecordedCallData(submitter: string, root: string): string {
  if (!ADDRESS_RE.test(submitter)) throw new Error(`not an address: ${JSON.stringify(submitter.slice(0, 50))}`);
  if (!WORD_RE.test(root)) throw new Error(`a root is 0x + 64 hex, not ${JSON.stringify(root.slice(0, 70))}`);
  return `0x${SELECTOR}${'0'.repeat(24)}${submitter.slice(2).toLowerCase()}${root.slice(2).toLowerCase()}`;
}

/** An eth_call result read as one ABI bool, or why not. */
export function decodeBoolWord(result: unknown): Result<boolean> {
  if (typeof result !== 'string' || !WORD_RE.test(result)) return fail('the chain did not answer with one 32-byte word');
  const body = result.slice(2).toLowerCase();
  if (body === '0'.repeat(64)) return ok(false);
  if (body === `${'0'.repeat(63)}1`) return ok(true);
  return fail('the word is not an ABI bool (0 or 1)');
}
