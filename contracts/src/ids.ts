/**
 * How off-chain identifiers and values map to the contracts' arguments.
 */
import { keccak256, toUtf8Bytes } from 'ethers';
import type { Hex } from './merkle.js';

/**
 * The default Registry `patientRef` of an off-chain patient id such as "patient-0001":
 * keccak256(utf8(id)). Pseudonymous, not secret (ids are guessable); a gateway that needs unlinkable
 * refs can register any other non-zero bytes32 (e.g. an HMAC of the id under a gateway secret).
 */
export function patientRef(patientId: string): Hex {
  if (patientId.length === 0) throw new Error('empty patient id');
  return keccak256(toUtf8Bytes(patientId)) as Hex;
}

/** Number of streams (ids 0..8: ecg, ppg, hr, spo2, temp, bp, glucose, acc, resp). */
export const STREAM_COUNT = 9;
/** Consent bitmask of all nine streams. */
export const ALL_STREAMS = (1 << STREAM_COUNT) - 1;

/** Consent `streams` bitmask of stream ids: bit (1 << id). */
export function streamMask(streamIds: Iterable<number>): number {
  let mask = 0;
  for (const id of streamIds) {
    if (!Number.isInteger(id) || id < 0 || id >= STREAM_COUNT) throw new Error(`invalid stream id ${id}`);
    mask |= 1 << id;
  }
  return mask;
}

/** The stream ids in a consent bitmask. */
export function streamIdsOf(mask: number): number[] {
  const ids: number[] = [];
  for (let id = 0; id < STREAM_COUNT; id++) if (mask & (1 << id)) ids.push(id);
  return ids;
}

/** Largest value of a uint48 data timestamp (ms): an open-ended data window ends here. */
export const MAX_DATA_TS = 2 ** 48 - 1;
/** Largest value of a uint40 expiry (s): a grant that never expires. */
export const MAX_EXPIRY = 2 ** 40 - 1;
