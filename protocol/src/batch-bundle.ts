/**
 * Batch bundle, format v1: many sealed batches in one body. Two uses share the framing:
 *   - upload (POST /v1/batches): a gateway draining a backlog pays one request, one signature and
 *     one signature check for up to MAX_BUNDLE_BATCHES batches instead of one each;
 *   - download (GET /v1/clinician/bundle): a clinician's browser gets up to MAX_BUNDLE_BATCHES
 *     batches of one stream and time range, each with where it is anchored and its Merkle proof, in
 *     one response instead of a catalog page, a request per batch and a request per proof.
 * Every integer is big-endian.
 *
 *   off  size  field
 *   0    4     magic "VGBB"
 *   4    1     format version = 1
 *   5    4     M = manifest length (1..MAX_MANIFEST_BYTES for uploads, ..MAX_DOWNLOAD_MANIFEST_BYTES for downloads)
 *   9    M     manifest: UTF-8 JSON {"batches": [item, …] [, "next": cursor | null]}, one item per batch, in body order:
 *                {"id", "patientAccount", "patient", "stream", "device", "epoch", "seq",
 *                 "firstTs", "lastTs", "count", "bytes" [, "anchor"]}
 *              the same metadata a single PUT /v1/batches/{id} carries in its query, plus its length.
 *              Optional, in downloads:
 *                item "anchor": {"gateway", "root", "tx", "block", "proof": [bytes32 hex, …]}: the
 *                  DataAnchor root that covers the batch, submitted by `gateway` in transaction `tx`
 *                  (mined in `block`), and the batch id's StandardMerkleTree proof to it; absent while
 *                  the batch is not anchored yet. A claim by ingest to be checked, not trusted: the proof
 *                  against the root locally, the root against the chain (DataAnchor.isRecorded).
 *                manifest "next": the cursor of the following page (the `after` of the next request),
 *                  or null on the last page. A download page may list no batch at all (nothing
 *                  allowed in this page of the catalog) and still have a `next`.
 *   9+M  …     the sealed batches, back to back, each `bytes` long; nothing after the last
 *
 * Readers ignore manifest fields they do not know. The parser never throws and checks only the
 * framing (and the shape of the optional fields); whether each batch is what its item says is the
 * reader's business, per item (ingest on upload; the browser checks each id is the SHA-256 of its
 * bytes before it decrypts or believes a proof).
 */
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { fail, ok, type Result } from './reading.js';

export const BUNDLE_MAGIC = new Uint8Array([0x56, 0x47, 0x42, 0x42]); // "VGBB"
export const BUNDLE_VERSION = 1;
export const MAX_BUNDLE_BATCHES = 256;
export const MAX_MANIFEST_BYTES = 256 * 1024;
/**
 * A download manifest carries a proof per batch (about 20 hashes at the largest anchor period), so
 * it may be larger than an upload's: 256 items with proofs fit with room to spare.
 */
export const MAX_DOWNLOAD_MANIFEST_BYTES = 2 * 1024 * 1024;
/** Longest Merkle proof a manifest may carry (a tree of 2^64 leaves). */
export const MAX_PROOF_LENGTH = 64;

/** Most batch ids one GET /v1/clinician/proofs/{patient}?ids= asks about (each answered as a BundleAnchor or null). */
export const MAX_PROOF_IDS = 64;

/** Where a downloaded batch is anchored, and its Merkle proof (see the file header). */
export interface BundleAnchor {
  /** The gateway account that submitted the root (0x + 40 hex). */
  gateway: string;
  /** Merkle root, transaction hash: 0x + 64 hex. */
  root: string;
  tx: string;
  block: number;
  /** The batch id's StandardMerkleTree proof to `root`, leaf upward: 0x + 64 hex each. */
  proof: string[];
}

export interface BundleItem {
  id: string;
  patientAccount: string;
  patient: string;
  stream: string;
  device: string;
  epoch: number;
  seq: number;
  firstTs: number;
  lastTs: number;
  count: number;
  bytes: number;
  /** Downloads only: the anchor and proof, once anchored. */
  anchor?: BundleAnchor;
}

export interface ParsedBundle {
  items: BundleItem[];
  /** The sealed batches, in manifest order (views into the input). */
  bodies: Uint8Array[];
  /** Downloads: the cursor of the following page, null on the last (undefined when the manifest has none). */
  next?: string | null;
}

/** Upload bundles hold 1..MAX_BUNDLE_BATCHES batches; download bundles 0..MAX_BUNDLE_BATCHES and a larger manifest. */
export interface BundleMode {
  download?: boolean;
}

type BundleInput = ReadonlyArray<{ item: Omit<BundleItem, 'bytes'>; bytes: Uint8Array }>;

export function encodeBundle(batches: BundleInput, mode: BundleMode & { next?: string | null } = {}): Uint8Array {
  const min = mode.download ? 0 : 1;
  if (batches.length < min || batches.length > MAX_BUNDLE_BATCHES) throw new RangeError(`a bundle holds ${min}..${MAX_BUNDLE_BATCHES} batches, not ${batches.length}`);
  // One key order whatever the input's, so a parsed bundle re-encodes to the same bytes; fields this
  // writer does not know are kept, after the ones it does.
  const list = batches.map((b) => {
    const { id, patientAccount, patient, stream, device, epoch, seq, firstTs, lastTs, count, anchor, bytes: _, ...rest } = b.item as BundleItem;
    return { id, patientAccount, patient, stream, device, epoch, seq, firstTs, lastTs, count, bytes: b.bytes.length, ...rest, ...(anchor && { anchor }) };
  });
  const manifest = new TextEncoder().encode(JSON.stringify(mode.next === undefined ? { batches: list } : { batches: list, next: mode.next }));
  if (manifest.length > (mode.download ? MAX_DOWNLOAD_MANIFEST_BYTES : MAX_MANIFEST_BYTES)) throw new RangeError('bundle manifest too large');
  const total = 9 + manifest.length + batches.reduce((n, b) => n + b.bytes.length, 0);
  const out = new Uint8Array(total);
  out.set(BUNDLE_MAGIC, 0);
  out[4] = BUNDLE_VERSION;
  new DataView(out.buffer).setUint32(5, manifest.length, false);
  out.set(manifest, 9);
  let o = 9 + manifest.length;
  for (const b of batches) {
    out.set(b.bytes, o);
    o += b.bytes.length;
  }
  return out;
}

/** A download page (GET /v1/clinician/bundle): 0..MAX_BUNDLE_BATCHES batches with their anchors, and the next cursor. */
export function encodeDownloadBundle(batches: BundleInput, next: string | null): Uint8Array {
  return encodeBundle(batches, { download: true, next });
}

/** Parses a download page: as parseBundle in download mode. */
export function parseDownloadBundle(bytes: Uint8Array): Result<ParsedBundle> {
  return parseBundle(bytes, { download: true });
}

const isUint = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isStr = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 200;
const ADDRESS_RE = /^0x[0-9a-fA-F]{40}$/;
const HASH_RE = /^0x[0-9a-fA-F]{64}$/;

function anchorOf(v: unknown, i: number): Result<BundleAnchor> {
  const a = v as Record<string, unknown> | null;
  if (typeof a !== 'object' || a === null || Array.isArray(a)) return fail(`manifest item ${i}: anchor must be an object`);
  if (typeof a.gateway !== 'string' || !ADDRESS_RE.test(a.gateway)) return fail(`manifest item ${i}: anchor.gateway must be a 0x account`);
  for (const k of ['root', 'tx'] as const) if (typeof a[k] !== 'string' || !HASH_RE.test(a[k])) return fail(`manifest item ${i}: anchor.${k} must be 0x and 64 hex`);
  if (!isUint(a.block)) return fail(`manifest item ${i}: anchor.block must be a non-negative integer`);
  const proof = a.proof;
  if (!Array.isArray(proof) || proof.length > MAX_PROOF_LENGTH || !proof.every((h) => typeof h === 'string' && HASH_RE.test(h))) {
    return fail(`manifest item ${i}: anchor.proof must list at most ${MAX_PROOF_LENGTH} hashes (0x and 64 hex)`);
  }
  return ok({ gateway: a.gateway, root: a.root as string, tx: a.tx as string, block: a.block, proof: proof as string[] });
}

export function parseBundle(bytes: Uint8Array, mode: BundleMode = {}): Result<ParsedBundle> {
  if (!(bytes instanceof Uint8Array) || bytes.length < 9) return fail('a bundle starts with "VGBB", a version and a manifest length');
  for (let i = 0; i < 4; i++) if (bytes[i] !== BUNDLE_MAGIC[i]) return fail('not a batch bundle (magic is not "VGBB")');
  if (bytes[4] !== BUNDLE_VERSION) return fail(`bundle format version ${bytes[4]} is not supported (this reader knows ${BUNDLE_VERSION})`);
  const m = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(5, false);
  if (m < 1 || m > (mode.download ? MAX_DOWNLOAD_MANIFEST_BYTES : MAX_MANIFEST_BYTES) || 9 + m > bytes.length) return fail(`manifest length ${m} does not fit the bundle`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(9, 9 + m)));
  } catch {
    return fail('the manifest is not UTF-8 JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return fail('the manifest is not a JSON object');
  const list = (parsed as { batches?: unknown }).batches;
  const min = mode.download ? 0 : 1;
  if (!Array.isArray(list) || list.length < min || list.length > MAX_BUNDLE_BATCHES) return fail(`the manifest must list ${min}..${MAX_BUNDLE_BATCHES} batches`);
  const next = (parsed as { next?: unknown }).next;
  if (next !== undefined && next !== null && !(typeof next === 'string' && next.length > 0 && next.length <= 200)) return fail('the manifest\'s next must be a cursor (1..200 characters) or null');
  const items: BundleItem[] = [];
  const bodies: Uint8Array[] = [];
  let o = 9 + m;
  for (const [i, raw] of list.entries()) {
    const x = raw as Record<string, unknown>;
    if (typeof x !== 'object' || x === null) return fail(`manifest item ${i} is not an object`);
    for (const k of ['id', 'patientAccount', 'patient', 'stream', 'device'] as const) if (!isStr(x[k])) return fail(`manifest item ${i}: ${k} must be a string`);
    for (const k of ['epoch', 'seq', 'firstTs', 'lastTs', 'count', 'bytes'] as const) if (!isUint(x[k])) return fail(`manifest item ${i}: ${k} must be a non-negative integer`);
    let anchor: BundleAnchor | undefined;
    if (x.anchor !== undefined) {
      const a = anchorOf(x.anchor, i);
      if (!a.ok) return a;
      anchor = a.value;
    }
    const len = x.bytes as number;
    if (len < 1 || o + len > bytes.length) return fail(`manifest item ${i}: ${len} bytes do not fit the bundle`);
    items.push({
      id: x.id as string, patientAccount: x.patientAccount as string, patient: x.patient as string, stream: x.stream as string, device: x.device as string,
      epoch: x.epoch as number, seq: x.seq as number, firstTs: x.firstTs as number, lastTs: x.lastTs as number, count: x.count as number, bytes: len,
      ...(anchor && { anchor }),
    });
    bodies.push(bytes.subarray(o, o + len));
    o += len;
  }
  if (o !== bytes.length) return fail(`${bytes.length - o} bytes after the last batch the manifest lists`);
  return ok({ items, bodies, ...(next !== undefined && { next: next as string | null }) });
}

/**
 * Whether `proof` leads from batch `id` (64 hex, with or without 0x) to `root`, by the rules of
 * OpenZeppelin's StandardMerkleTree with leaf encoding ['bytes32'] (as DataAnchor.verifyBatch and
 * contracts/src/merkle.ts apply them): leaf = keccak256(keccak256(id)), each step
 * keccak256(min(a, b) ‖ max(a, b)). What it cannot say is whether the root is on chain: ask
 * DataAnchor.isRecorded(gateway, root), once per root. Never throws: malformed input is false.
 */
export function merkleProofHolds(root: string, id: string, proof: readonly string[]): boolean {
  const b32 = (h: string): Uint8Array | null => {
    const x = h.startsWith('0x') || h.startsWith('0X') ? h.slice(2) : h;
    return /^[0-9a-fA-F]{64}$/.test(x) ? hexToBytes(x) : null;
  };
  const r = b32(root);
  const v = b32(id);
  if (!r || !v || proof.length > MAX_PROOF_LENGTH) return false;
  let node = keccak_256(keccak_256(v));
  const pair = new Uint8Array(64);
  for (const h of proof) {
    const sibling = b32(h);
    if (!sibling) return false;
    const first = compare32(node, sibling) <= 0;
    pair.set(first ? node : sibling, 0);
    pair.set(first ? sibling : node, 32);
    node = keccak_256(pair);
  }
  return compare32(node, r) === 0;
}

/**
 * merkleProofHolds for many batches under few roots, as a history checks them (1800 batches of an
 * hour of ECG under a few dozen roots: ~13 Keccak-256 hashes each, 0.4 s of the page's thread).
 * A step already taken by a proof that held (the same node, the same remaining siblings, the same
 * root) is not hashed again: the rest of the path is the one already computed. So the answer is
 * always merkleProofHolds' own, and batches that share a subtree share its hashing (~3 hashes a
 * batch instead of ~2 + log2(leaves)). Only steps of proofs that held are kept, up to `maxSteps`
 * (then forgotten and learnt again).
 */
export class MerkleProofMemo {
  /** "root|node|remaining siblings" of every step of the proofs that held. */
  private readonly held = new Set<string>();
  constructor(private readonly maxSteps = 200_000) {}

  holds(root: string, id: string, proof: readonly string[]): boolean {
    const norm = (h: string): string | null => {
      const x = (h.startsWith('0x') || h.startsWith('0X') ? h.slice(2) : h).toLowerCase();
      return /^[0-9a-f]{64}$/.test(x) ? x : null;
    };
    const r = norm(root);
    const v = norm(id);
    if (!r || !v || proof.length > MAX_PROOF_LENGTH) return false;
    const siblings: string[] = [];
    for (const h of proof) {
      const x = norm(h);
      if (!x) return false;
      siblings.push(x);
    }
    // The remaining siblings after step i, as one key part: suffix[i] = siblings[i..].
    const suffix: string[] = new Array<string>(siblings.length + 1);
    suffix[siblings.length] = '';
    for (let i = siblings.length - 1; i >= 0; i--) suffix[i] = `${siblings[i]},${suffix[i + 1]}`;
    let node = keccak_256(keccak_256(hexToBytes(v)));
    const steps: string[] = [];
    const pair = new Uint8Array(64);
    for (let i = 0; ; i++) {
      const key = `${r}|${bytesToHex(node)}|${suffix[i]}`;
      if (this.held.has(key)) break;
      steps.push(key);
      if (i === siblings.length) {
        if (bytesToHex(node) !== r) return false;
        break;
      }
      const sibling = hexToBytes(siblings[i]!);
      const first = compare32(node, sibling) <= 0;
      pair.set(first ? node : sibling, 0);
      pair.set(first ? sibling : node, 32);
      node = keccak_256(pair);
    }
    if (this.held.size + steps.length > this.maxSteps) this.held.clear();
    for (const k of steps) this.held.add(k);
    return true;
  }
}

function compare32(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < 32; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}
