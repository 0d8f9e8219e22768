/**
 * The broker journal's on-disk format: the magic `VGJRNL01`, then frames, each a u32 length and a
 * u32 CRC-32 of its body (little endian) and the body: one record, v8-serialized. A record is one
 * mutating call on the store with its arguments (client ids instead of client objects). A torn or
 * corrupt frame ends the journal: it and everything after it are dropped.
 */
import { deserialize, serialize } from 'node:v8';
import { crc32 } from 'node:zlib';
import type { PersistedPacket } from '../memory.js';

export interface Sub {
  topic: string;
  qos: number;
  [k: string]: unknown;
}

/** A journal record: one mutating call with its arguments (client ids instead of client objects). */
export type Rec =
  | ['ret', PersistedPacket]
  | ['sub', string, Sub[]]
  | ['unsub', string, string[]]
  | ['cleanSubs', string]
  | ['enq', string[], PersistedPacket]
  | ['upd', string, PersistedPacket]
  | ['clr', string, PersistedPacket]
  | ['inStore', string, PersistedPacket]
  | ['inDel', string, PersistedPacket]
  | ['inClean', string]
  | ['will', string, PersistedPacket]
  | ['delWill', string];

export const MAGIC = Buffer.from('VGJRNL01');
const FRAME_HEAD = 8; // u32 length, u32 crc32, little endian

/**
 * A record's data: packets reach us as aedes objects carrying callbacks (QoSPacket.writeCallback),
 * which cannot be serialized and do not belong in the journal; only data fields are kept.
 */
function dataOnly(v: unknown): unknown {
  if (v === null || typeof v !== 'object' || Buffer.isBuffer(v) || ArrayBuffer.isView(v)) return v;
  if (Array.isArray(v)) return v.map(dataOnly);
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (typeof x !== 'function') out[k] = dataOnly(x);
  return out;
}

export function frame(rec: Rec): Buffer {
  const body = serialize(dataOnly(rec));
  const out = Buffer.allocUnsafe(FRAME_HEAD + body.length);
  out.writeUInt32LE(body.length, 0);
  out.writeUInt32LE(crc32(body), 4);
  body.copy(out, FRAME_HEAD);
  return out;
}

/** A whole journal holding `records`. */
export function encodeJournal(records: readonly Rec[]): Buffer {
  return Buffer.concat([MAGIC, ...records.map(frame)]);
}

/** The records in `buf` and the length of its valid prefix (a torn or corrupt tail is dropped). */
export function parseJournal(buf: Buffer): { records: Rec[]; validLength: number } {
  if (buf.length < MAGIC.length || !buf.subarray(0, MAGIC.length).equals(MAGIC)) {
    if (buf.length === 0) return { records: [], validLength: 0 };
    throw new Error('not a vitalgate broker journal (bad header)');
  }
  const records: Rec[] = [];
  let off = MAGIC.length;
  while (off + FRAME_HEAD <= buf.length) {
    const len = buf.readUInt32LE(off);
    const crc = buf.readUInt32LE(off + 4);
    if (off + FRAME_HEAD + len > buf.length) break;
    const body = buf.subarray(off + FRAME_HEAD, off + FRAME_HEAD + len);
    if (crc32(body) !== crc) break;
    records.push(deserialize(body) as Rec);
    off += FRAME_HEAD + len;
  }
  return { records, validLength: off };
}
