/**
 * Sealed-batch binary format, versions 1 and 2. Every integer is big-endian.
 *
 *   off  size  field
 *   0    4     magic "VGSB"
 *   4    1     format version: 1 = a batch of readings; 2 = a batch of another kind, named next
 *   5    1     stream id (see streams.ts)
 *   (6   1     kind, version 2 only: 1 = per-minute summary, 2 = per-hour summary; see summary.ts)
 *   .    1     P = patient id length (1..64)
 *   7    P     patient id, ASCII
 *   .    1     D = device id length (1..64)
 *   .    D     device id, ASCII
 *   .    4     epoch (u32)
 *   .    4     batch sequence within (patient, stream, device) (u32)
 *   .    8     first timestamp, ms since the Unix epoch (u64)
 *   .    8     last timestamp (u64)
 *   .    4     reading count (u32)
 *   .    24    XChaCha20-Poly1305 nonce, random per batch
 *   .    n+16  ciphertext ‖ Poly1305 tag
 *
 * The associated data is the whole header (bytes 0 up to the end of the nonce), so no header field
 * can be changed or moved to another batch without the tag failing. The plaintext is a CBOR array of
 * reading bodies (see payload.ts); the device and stream they belong to are the header's. A reading
 * that arrived as CBOR is sealed in the bytes the device sent (payload.ts, encodeBodies), so readers
 * decode the plaintext and never compare it byte for byte with an encoding of their own.
 * The batch id is SHA-256 over all the sealed bytes, header included.
 *
 * A readings batch is always written as version 1, so each batch has exactly one encoding and every
 * batch sealed before summaries existed still parses. Summaries (summary.ts) are sealed by the same
 * gateway under the same epoch key as the readings they summarise; their kind sits in the header,
 * so it is authenticated, and the catalog can tell them apart without a key.
 */
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, randomBytes } from '@noble/hashes/utils.js';
import { isValidId } from './ids.js';
import { decodeCbor, encodeBodies } from './payload.js';
import { fail, lastSampleTs, ok, validateBody, type ReadingBody, type Result } from './reading.js';
import { STREAMS, streamById, type StreamName } from './streams.js';

export const BATCH_MAGIC = new Uint8Array([0x56, 0x47, 0x53, 0x42]); // "VGSB"
export const BATCH_VERSION = 1;
/** The version that carries a kind byte; never used for readings. */
export const BATCH_VERSION_KINDED = 2;

/** What a sealed batch holds: device readings, or summaries of them over a minute or an hour. */
export type BatchKind = 'readings' | 'summary-1m' | 'summary-1h';
export const BATCH_KINDS: readonly BatchKind[] = ['readings', 'summary-1m', 'summary-1h'];
const KIND_IDS: Readonly<Record<BatchKind, number>> = { readings: 0, 'summary-1m': 1, 'summary-1h': 2 };

export function isBatchKind(x: unknown): x is BatchKind {
  return typeof x === 'string' && (BATCH_KINDS as readonly string[]).includes(x);
}
export const NONCE_BYTES = 24;
export const TAG_BYTES = 16;
/** Refuse to parse anything larger: the gateway never writes batches near this size. */
export const MAX_BATCH_BYTES = 64 * 1024 * 1024;

export interface BatchHeader {
  version: number;
  /** Follows from the version: a version 1 batch holds readings. */
  kind: BatchKind;
  stream: StreamName;
  patientId: string;
  deviceId: string;
  epoch: number;
  seq: number;
  firstTs: number;
  lastTs: number;
  count: number;
  nonce: Uint8Array;
}

export interface ParsedBatch {
  header: BatchHeader;
  /** Header bytes, the associated data. */
  aad: Uint8Array;
  ciphertext: Uint8Array;
}

const ascii = new TextEncoder();
const asciiDecoder = new TextDecoder();

export function encodeHeader(h: BatchHeader): Uint8Array {
  if (!isValidId(h.patientId)) throw new Error(`invalid patient id ${JSON.stringify(h.patientId)}`);
  if (!isValidId(h.deviceId)) throw new Error(`invalid device id ${JSON.stringify(h.deviceId)}`);
  if (h.nonce.length !== NONCE_BYTES) throw new Error('nonce must be 24 bytes');
  for (const [k, v] of [['epoch', h.epoch], ['seq', h.seq], ['count', h.count]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`${k} ${v} is not a u32`);
  }
  for (const [k, v] of [['firstTs', h.firstTs], ['lastTs', h.lastTs]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${k} ${v} is not a u64 timestamp`);
  }
  const kinded = h.kind !== 'readings';
  if (h.version !== (kinded ? BATCH_VERSION_KINDED : BATCH_VERSION)) throw new Error(`a ${h.kind} batch is written as version ${kinded ? BATCH_VERSION_KINDED : BATCH_VERSION}, not ${h.version}`);
  const p = ascii.encode(h.patientId);
  const d = ascii.encode(h.deviceId);
  const out = new Uint8Array(4 + 1 + 1 + (kinded ? 1 : 0) + 1 + p.length + 1 + d.length + 4 + 4 + 8 + 8 + 4 + NONCE_BYTES);
  const dv = new DataView(out.buffer);
  let o = 0;
  out.set(BATCH_MAGIC, o); o += 4;
  out[o++] = h.version;
  out[o++] = STREAMS[h.stream].id;
  if (kinded) out[o++] = KIND_IDS[h.kind];
  out[o++] = p.length; out.set(p, o); o += p.length;
  out[o++] = d.length; out.set(d, o); o += d.length;
  dv.setUint32(o, h.epoch); o += 4;
  dv.setUint32(o, h.seq); o += 4;
  dv.setBigUint64(o, BigInt(h.firstTs)); o += 8;
  dv.setBigUint64(o, BigInt(h.lastTs)); o += 8;
  dv.setUint32(o, h.count); o += 4;
  out.set(h.nonce, o);
  return out;
}

/** Parses the header of untrusted bytes. Never throws. */
export function parseBatch(bytes: Uint8Array): Result<ParsedBatch> {
  if (bytes.length > MAX_BATCH_BYTES) return fail(`batch of ${bytes.length} bytes exceeds ${MAX_BATCH_BYTES}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let o = 0;
  const need = (n: number) => o + n <= bytes.length;
  if (!need(7)) return fail('truncated batch: shorter than the fixed header');
  for (let i = 0; i < 4; i++) if (bytes[i] !== BATCH_MAGIC[i]) return fail('not a sealed batch (bad magic)');
  o = 4;
  const version = bytes[o++]!;
  if (version !== BATCH_VERSION && version !== BATCH_VERSION_KINDED) return fail(`unsupported batch format version ${version}`);
  const stream = streamById(bytes[o++]!);
  if (!stream) return fail(`unknown stream id ${bytes[o - 1]}`);
  let kind: BatchKind = 'readings';
  if (version === BATCH_VERSION_KINDED) {
    if (!need(2)) return fail('truncated batch: kind');
    const k = bytes[o++]!;
    const named = BATCH_KINDS.find((n) => KIND_IDS[n] === k);
    // Readings have one encoding, version 1; a version 2 batch claiming readings is not ours.
    if (!named || named === 'readings') return fail(`unknown batch kind ${k}`);
    kind = named;
  }
  const plen = bytes[o++]!;
  if (!need(plen + 1)) return fail('truncated batch: patient id');
  const patientId = asciiDecoder.decode(bytes.subarray(o, o + plen)); o += plen;
  if (!isValidId(patientId)) return fail('invalid patient id in header');
  const dlen = bytes[o++]!;
  if (!need(dlen + 28 + NONCE_BYTES + TAG_BYTES)) return fail('truncated batch: header or tag missing');
  const deviceId = asciiDecoder.decode(bytes.subarray(o, o + dlen)); o += dlen;
  if (!isValidId(deviceId)) return fail('invalid device id in header');
  const epoch = dv.getUint32(o); o += 4;
  const seq = dv.getUint32(o); o += 4;
  const firstTs = Number(dv.getBigUint64(o)); o += 8;
  const lastTs = Number(dv.getBigUint64(o)); o += 8;
  const count = dv.getUint32(o); o += 4;
  const nonce = bytes.slice(o, o + NONCE_BYTES); o += NONCE_BYTES;
  if (!Number.isSafeInteger(firstTs) || !Number.isSafeInteger(lastTs) || lastTs < firstTs) return fail('header timestamps are inconsistent');
  return ok({
    header: { version, kind, stream: stream.name, patientId, deviceId, epoch, seq, firstTs, lastTs, count, nonce },
    aad: bytes.subarray(0, o),
    ciphertext: bytes.subarray(o),
  });
}

export function batchId(sealed: Uint8Array): string {
  return bytesToHex(batchSha256(sealed));
}

export interface SealInput {
  stream: StreamName;
  patientId: string;
  deviceId: string;
  epoch: number;
  seq: number;
  bodies: readonly ReadingBody[];
  /**
   * Per body, the CBOR payload it was decoded from, if it came as CBOR (see encodeBodies): sealed
   * as received instead of encoded again.
   */
  asReceived?: ReadonlyArray<Uint8Array | undefined>;
}

/** Seals bodies (in the order given) under the epoch key. `nonce` is for test vectors only. */
export function sealBatch(key: Uint8Array, input: SealInput, nonce: Uint8Array = batchNonce(NONCE_BYTES)): { id: string; bytes: Uint8Array; header: BatchHeader } {
  if (input.bodies.length === 0) throw new Error('cannot seal an empty batch');
  let firstTs = Infinity;
  let lastTs = -Infinity;
  for (const b of input.bodies) {
    firstTs = Math.min(firstTs, b.ts);
    lastTs = Math.max(lastTs, lastSampleTs(input.stream, b));
  }
  const { bodies, asReceived, ...rest } = input;
  if (asReceived && asReceived.length !== bodies.length) throw new Error(`${asReceived.length} received payloads for ${bodies.length} bodies`);
  return sealPlaintext(key, { version: BATCH_VERSION, kind: 'readings', ...rest, firstTs, lastTs, count: bodies.length, nonce }, encodeBodies(bodies, asReceived));
}

/** An XChaCha20-Poly1305 as noble shapes it: decrypt throws on a bad tag. */
export type XChaChaCipher = (key: Uint8Array, nonce: Uint8Array, aad?: Uint8Array) => { encrypt(plaintext: Uint8Array): Uint8Array; decrypt(ciphertext: Uint8Array): Uint8Array };

/**
 * noble's, everywhere; Node processes that seal a lot install OpenSSL's cipher and SHA-256 and a
 * pooled CSPRNG for nonces (`@vitalgate/protocol/native`). The bytes are the same either way.
 */
let batchCipher: XChaChaCipher = xchacha20poly1305;
let batchSha256: (bytes: Uint8Array) => Uint8Array = sha256;
let batchNonce: (n: number) => Uint8Array = randomBytes;

export interface BatchPrimitives {
  cipher?: XChaChaCipher;
  /** SHA-256 of batch and pack bytes (their ids). */
  sha256?: (bytes: Uint8Array) => Uint8Array;
  /** Fresh random bytes for nonces: a CSPRNG, every call new bytes. */
  randomBytes?: (n: number) => Uint8Array;
}

/** Which primitives seal, open and name batches in this process; omitted ones go back to noble's. */
export function useBatchPrimitives(p: BatchPrimitives): void {
  batchCipher = p.cipher ?? xchacha20poly1305;
  batchSha256 = p.sha256 ?? sha256;
  batchNonce = p.randomBytes ?? randomBytes;
}

/** Which XChaCha20-Poly1305 seals and opens batches in this process (the bytes are the same either way). */
export function useBatchCipher(c: XChaChaCipher): void {
  batchCipher = c;
}

/** SHA-256 as this process computes batch and pack ids (see useBatchPrimitives). */
export function batchHash(bytes: Uint8Array): Uint8Array {
  return batchSha256(bytes);
}

/** A fresh nonce from this process's nonce source (see useBatchPrimitives). */
export function freshNonce(n = NONCE_BYTES): Uint8Array {
  return batchNonce(n);
}

/** Seals an already-encoded plaintext under `header` (its nonce included): the one place batches are encrypted. */
export function sealPlaintext(key: Uint8Array, header: BatchHeader, plaintext: Uint8Array): { id: string; bytes: Uint8Array; header: BatchHeader } {
  const aad = encodeHeader(header);
  const ct = batchCipher(key, header.nonce, aad).encrypt(plaintext);
  const bytes = new Uint8Array(aad.length + ct.length);
  bytes.set(aad, 0);
  bytes.set(ct, aad.length);
  return { id: batchId(bytes), bytes, header };
}

/** Authenticates and decrypts a parsed batch of any kind. Never throws. */
export function decryptBatch(key: Uint8Array, parsed: ParsedBatch): Result<Uint8Array> {
  try {
    return ok(batchCipher(key, parsed.header.nonce, parsed.aad).decrypt(parsed.ciphertext));
  } catch {
    return fail('authentication failed: wrong key, or the batch was altered');
  }
}

/**
 * Authenticates and decrypts a parsed batch, then checks that its contents agree with its header.
 * Never throws: a wrong key and a tampered byte both come back as a reason.
 */
export function openBatch(key: Uint8Array, parsed: ParsedBatch): Result<ReadingBody[]> {
  // A summary's rows are not readings: taking them for readings would invent data.
  if (parsed.header.kind !== 'readings') return fail(`this is a ${parsed.header.kind} batch, not readings: open it with openSummary`);
  const plain = decryptBatch(key, parsed);
  if (!plain.ok) return plain;
  const raw = decodeCbor(plain.value);
  if (!raw.ok) return raw;
  if (!Array.isArray(raw.value)) return fail('batch plaintext is not an array');
  const { header } = parsed;
  if (raw.value.length !== header.count) return fail(`header says ${header.count} readings, batch holds ${raw.value.length}`);
  const bodies: ReadingBody[] = [];
  for (const item of raw.value) {
    const v = validateBody(header.stream, item);
    if (!v.ok) return fail(`reading ${bodies.length}: ${v.reason}`);
    if (v.value.ts < header.firstTs || lastSampleTs(header.stream, v.value) > header.lastTs) {
      return fail(`reading ${bodies.length} lies outside the header's time range`);
    }
    bodies.push(v.value);
  }
  return ok(bodies);
}
