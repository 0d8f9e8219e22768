/**
 * Merkle trees over batch ids (and access-log entry hashes), built exactly as
 * `StandardMerkleTree.of(values.map((v) => [v]), ['bytes32'])` from @openzeppelin/merkle-tree builds them,
 * so that OpenZeppelin's `MerkleProof.verify` (DataAnchor.verifyBatch, AuditLog.verifyEntry) accepts
 * the proofs:
 *
 *   leaf     = keccak256(keccak256(abi.encode(bytes32 value)))   (abi.encode of a bytes32 is the 32 bytes)
 *   leaves   sorted by their hash (StandardMerkleTree's default sortLeaves), values de-duplicated
 *   node     = keccak256(min(a, b) ‖ max(a, b))                   (commutative pair hash)
 *   layout   the complete binary tree in an array, leaves at the end in reverse order (OpenZeppelin's core)
 *
 * The library itself hashes through a generic ABI encoder and re-validates on every proof, which takes
 * seconds for the 75,000 batches of one anchor period at 1000 devices; this builder does the same
 * arithmetic on raw bytes (milliseconds), and `dump()` gives data that `StandardMerkleTree.load` accepts.
 * Verification (`verifyBatchProof`) uses the library.
 */
import { keccak_256 } from '@noble/hashes/sha3.js';
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';

/** A 0x-prefixed lowercase hex string. */
export type Hex = `0x${string}`;
/** 32 bytes, as bytes or as hex (with or without 0x). */
export type Bytes32Like = Uint8Array | string;

/** The leaf encoding used for batch ids and access-log entries. */
export const LEAF_ENCODING = ['bytes32'] as const;

/** The StandardMerkleTree dump format ('standard-v1'), loadable with `StandardMerkleTree.load`. */
export interface StandardTreeDump {
  format: 'standard-v1';
  leafEncoding: string[];
  tree: Hex[];
  values: { value: [Hex]; treeIndex: number }[];
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function toHex(bytes: Uint8Array): Hex {
  let s = '0x';
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i]!]!;
  return s as Hex;
}

/** Normalises a 32-byte value to its bytes; throws on anything that is not exactly 32 bytes. */
export function bytes32(value: Bytes32Like): Uint8Array {
  if (value instanceof Uint8Array) {
    if (value.length !== 32) throw new Error(`expected 32 bytes, got ${value.length}`);
    return value;
  }
  const h = value.startsWith('0x') || value.startsWith('0X') ? value.slice(2) : value;
  if (h.length !== 64 || !/^[0-9a-fA-F]{64}$/.test(h)) throw new Error(`expected 32 bytes of hex, got "${value}"`);
  return Uint8Array.from(Buffer.from(h, 'hex'));
}

/** `bytes32` as 0x-prefixed lowercase hex. */
export function toBytes32Hex(value: Bytes32Like): Hex {
  return toHex(bytes32(value));
}

function leafBytes(value: Uint8Array): Uint8Array {
  return keccak_256(keccak_256(value));
}

/** The Merkle leaf of a batch id (or entry hash): keccak256(bytes.concat(keccak256(abi.encode(value)))). */
export function batchLeaf(batchId: Bytes32Like): Hex {
  return toHex(leafBytes(bytes32(batchId)));
}

function compare(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < 32; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return 0;
}

function hashPair(a: Uint8Array, b: Uint8Array, scratch: Uint8Array): Uint8Array {
  if (compare(a, b) <= 0) {
    scratch.set(a, 0);
    scratch.set(b, 32);
  } else {
    scratch.set(b, 0);
    scratch.set(a, 32);
  }
  return keccak_256(scratch);
}

/**
 * A Merkle tree over 32-byte values (batch ids), identical to OpenZeppelin's StandardMerkleTree with
 * leaf encoding ['bytes32'].
 */
export class BatchMerkleTree {
  /** Nodes, in OpenZeppelin's array layout; nodes[0] is the root. */
  private readonly nodes: Uint8Array[];
  /** Value (hex) → index in `nodes` of its leaf. */
  private readonly index: Map<string, number>;
  /** Distinct values, in the order they were given. */
  readonly values: readonly Hex[];
  readonly root: Hex;

  private constructor(nodes: Uint8Array[], index: Map<string, number>, values: Hex[]) {
    this.nodes = nodes;
    this.index = index;
    this.values = values;
    this.root = toHex(nodes[0]!);
  }

  /** Builds the tree. Duplicate values are kept once. Throws on an empty list. */
  static of(batchIds: Iterable<Bytes32Like>): BatchMerkleTree {
    const seen = new Set<string>();
    const values: Hex[] = [];
    const leaves: { value: Hex; leaf: Uint8Array }[] = [];
    for (const id of batchIds) {
      const b = bytes32(id);
      const value = toHex(b);
      if (seen.has(value)) continue;
      seen.add(value);
      values.push(value);
      leaves.push({ value, leaf: leafBytes(b) });
    }
    const n = leaves.length;
    if (n === 0) throw new Error('a Merkle tree needs at least one batch id');
    leaves.sort((a, b) => compare(a.leaf, b.leaf));
    const size = 2 * n - 1;
    const nodes = new Array<Uint8Array>(size);
    const index = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const at = size - 1 - i;
      const l = leaves[i]!;
      nodes[at] = l.leaf;
      index.set(l.value, at);
    }
    const scratch = new Uint8Array(64);
    for (let i = size - 1 - n; i >= 0; i--) {
      nodes[i] = hashPair(nodes[2 * i + 1]!, nodes[2 * i + 2]!, scratch);
    }
    return new BatchMerkleTree(nodes, index, values);
  }

  /** Rebuilds a tree from a StandardMerkleTree dump, checking that it is a ['bytes32'] tree with the same nodes. */
  static load(dump: StandardTreeDump): BatchMerkleTree {
    if (dump.format !== 'standard-v1') throw new Error(`unknown Merkle tree format "${String(dump.format)}"`);
    if (dump.leafEncoding.length !== 1 || dump.leafEncoding[0] !== 'bytes32') {
      throw new Error(`expected leaf encoding ["bytes32"], got ${JSON.stringify(dump.leafEncoding)}`);
    }
    const tree = BatchMerkleTree.of(dump.values.map((v) => v.value[0]));
    const nodes = tree.dump().tree;
    if (nodes.length !== dump.tree.length || nodes.some((h, i) => h !== dump.tree[i]?.toLowerCase())) {
      throw new Error('Merkle tree dump does not match its values');
    }
    return tree;
  }

  /** Number of distinct values (the `count` to anchor). */
  get count(): number {
    return this.values.length;
  }

  has(batchId: Bytes32Like): boolean {
    return this.index.has(toBytes32Hex(batchId));
  }

  /** The proof of one batch id, for DataAnchor.verifyBatch / `verifyBatchProof`. Throws if it is not in the tree. */
  proof(batchId: Bytes32Like): Hex[] {
    const value = toBytes32Hex(batchId);
    let i = this.index.get(value);
    if (i === undefined) throw new Error(`batch id ${value} is not in the tree`);
    const proof: Hex[] = [];
    while (i > 0) {
      const sibling = i % 2 === 1 ? i + 1 : i - 1;
      proof.push(toHex(this.nodes[sibling]!));
      i = Math.floor((i - 1) / 2);
    }
    return proof;
  }

  /** Every value with its proof, in the order the values were given. */
  *proofs(): Generator<{ batchId: Hex; proof: Hex[] }> {
    for (const batchId of this.values) yield { batchId, proof: this.proof(batchId) };
  }

  /** The tree in StandardMerkleTree's dump format: `StandardMerkleTree.load(tree.dump())` works. */
  dump(): StandardTreeDump {
    return {
      format: 'standard-v1',
      leafEncoding: [...LEAF_ENCODING],
      tree: this.nodes.map(toHex),
      values: this.values.map((value) => ({ value: [value], treeIndex: this.index.get(value)! })),
    };
  }
}

/** Builds the Merkle tree of one anchor period's batch ids (see BatchMerkleTree). */
export function buildBatchTree(batchIds: Iterable<Bytes32Like>): BatchMerkleTree {
  return BatchMerkleTree.of(batchIds);
}

/** The same tree over access-log entry hashes, for AuditLog. */
export const buildAccessLogTree = buildBatchTree;

/**
 * Checks off-chain, with @openzeppelin/merkle-tree, that `batchId` with `proof` leads to `root`.
 * DataAnchor.verifyBatch does the same on-chain and also requires the root to be anchored.
 */
export function verifyBatchProof(root: Bytes32Like, batchId: Bytes32Like, proof: readonly Bytes32Like[]): boolean {
  try {
    return StandardMerkleTree.verify(toBytes32Hex(root), [...LEAF_ENCODING], [toBytes32Hex(batchId)], proof.map(toBytes32Hex));
  } catch {
    return false;
  }
}
