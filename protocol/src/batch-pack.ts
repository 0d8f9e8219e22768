/**
 * Batch pack v1: the sealed batches of one gateway flush in one file, so that a flush costs one
 * fsync instead of one per batch (a disk does a few thousand fsyncs a second; a ward gateway seals
 * thousands of batches a second). Each batch stays individually addressable by its id.
 *
 *   "VGPK" | u8 version = 1 | u32 count | count × ( u32 length | sealed batch bytes )
 *
 * Big-endian. The pack's name is the SHA-256 of all its bytes; each batch's id is the SHA-256 of
 * its own bytes, as everywhere else.
 */
import { bytesToHex } from '@noble/hashes/utils.js';
import { fail, ok, type Result } from './reading.js';
import { batchHash, MAX_BATCH_BYTES } from './sealed-batch.js';

export const PACK_MAGIC = new Uint8Array([0x56, 0x47, 0x50, 0x4b]); // "VGPK"
export const PACK_VERSION = 1;
const HEADER = 9;

export interface PackEntry { offset: number; length: number }

export function encodePack(batches: readonly Uint8Array[]): { bytes: Uint8Array; entries: PackEntry[]; id: string } {
  const total = HEADER + batches.reduce((n, b) => n + 4 + b.length, 0);
  const bytes = new Uint8Array(total);
  const dv = new DataView(bytes.buffer);
  bytes.set(PACK_MAGIC, 0);
  bytes[4] = PACK_VERSION;
  dv.setUint32(5, batches.length);
  const entries: PackEntry[] = [];
  let o = HEADER;
  for (const b of batches) {
    dv.setUint32(o, b.length);
    o += 4;
    bytes.set(b, o);
    entries.push({ offset: o, length: b.length });
    o += b.length;
  }
  return { bytes, entries, id: bytesToHex(batchHash(bytes)) };
}

/** Splits a pack into its batches. Never throws; a torn or altered pack says where it breaks. */
export function parsePack(bytes: Uint8Array): Result<Array<PackEntry & { bytes: Uint8Array }>> {
  if (bytes.length < HEADER) return fail('truncated pack: shorter than its header');
  for (let i = 0; i < 4; i++) if (bytes[i] !== PACK_MAGIC[i]) return fail('not a batch pack (bad magic)');
  if (bytes[4] !== PACK_VERSION) return fail(`unsupported pack version ${bytes[4]}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = dv.getUint32(5);
  const out: Array<PackEntry & { bytes: Uint8Array }> = [];
  let o = HEADER;
  for (let i = 0; i < count; i++) {
    if (o + 4 > bytes.length) return fail(`truncated pack: entry ${i} of ${count} missing`);
    const length = dv.getUint32(o);
    o += 4;
    if (length > MAX_BATCH_BYTES || o + length > bytes.length) return fail(`truncated pack: entry ${i} runs past the end`);
    out.push({ offset: o, length, bytes: bytes.subarray(o, o + length) });
    o += length;
  }
  if (o !== bytes.length) return fail(`${bytes.length - o} unexpected bytes after the last entry`);
  return ok(out);
}
