/**
 * The Merkle trees of the gateways' anchor records, rebuilt from the records in object storage
 * (records/{gateway}/anchors/{root}) and kept, bounded, so that the clinician API can hand out a
 * batch's proof with the batch itself: one tree build per anchor period, however many batches of
 * it are read. Least recently used trees go first, past `maxTrees` trees or `maxLeaves` leaves in
 * all (a tree costs about 100 bytes a leaf: the default bound is some 50 MB).
 *
 * A record that is missing or unreadable gives no tree (null), and that is not remembered: the
 * record may be repaired. A storage failure is thrown to the caller, and not remembered either.
 */
import { buildBatchTree, type BatchMerkleTree } from '@vitalgate/contracts';
import { parseAnchorRecord } from '@vitalgate/protocol';
import type { ObjectStore } from '../storage/object-store.js';
import { anchorKey } from '../routes/records.js';

/**
 * Trees kept (the leaves bound is what bounds memory): a week of history spans some 170 anchor
 * periods at least (an hour's summaries are sealed together), an hour of ECG some 120 at 30 s. At 64
 * a week's view rebuilt every tree on every load, each of a busy gateway's periods thousands of
 * Keccak hashes.
 */
export const DEFAULT_ANCHOR_TREES = 1024;
export const DEFAULT_ANCHOR_TREE_LEAVES = 500_000;

export class AnchorTrees {
  /** By "gateway/root", in use order (oldest first); a pending build is its promise. */
  private readonly trees = new Map<string, { tree: Promise<BatchMerkleTree | null>; leaves: number }>();
  private leaves = 0;
  /** Trees built (not served from memory): for tests and figures. */
  builds = 0;

  constructor(private readonly store: ObjectStore, private readonly maxTrees = DEFAULT_ANCHOR_TREES, private readonly maxLeaves = DEFAULT_ANCHOR_TREE_LEAVES) {}

  /** The tree of the record `root` of `gateway` (checksummed account, 0x root), or null without a readable record. */
  tree(gateway: string, root: string): Promise<BatchMerkleTree | null> {
    const k = `${gateway}/${root}`;
    const hit = this.trees.get(k);
    if (hit) {
      this.trees.delete(k);
      this.trees.set(k, hit);
      return hit.tree;
    }
    const slot = { tree: this.build(gateway, root), leaves: 0 };
    this.trees.set(k, slot);
    slot.tree.then((t) => {
      if (this.trees.get(k) !== slot) return;
      if (!t) {
        this.trees.delete(k);
        return;
      }
      slot.leaves = t.count;
      this.leaves += t.count;
      this.evict(k);
    }, () => {
      if (this.trees.get(k) === slot) this.trees.delete(k);
    });
    return slot.tree;
  }

  /** The proof of `id` in that tree, or null (no record, or the record does not name the batch). */
  async proof(gateway: string, root: string, id: string): Promise<string[] | null> {
    const t = await this.tree(gateway, root);
    if (!t || t.root !== root.toLowerCase() || !t.has(id)) return null;
    return t.proof(id);
  }

  get size(): number {
    return this.trees.size;
  }

  private async build(gateway: string, root: string): Promise<BatchMerkleTree | null> {
    const bytes = await this.store.get(anchorKey(gateway, root));
    const record = bytes && parseAnchorRecord(bytes);
    if (!record || !record.ok) return null;
    this.builds++;
    return buildBatchTree(record.value.batches.map((b) => b.id));
  }

  /** Drops the least recently used trees past the bounds, never `keep` (the one just built). */
  private evict(keep: string): void {
    for (const [k, slot] of this.trees) {
      if (this.trees.size <= this.maxTrees && this.leaves <= this.maxLeaves) return;
      if (k === keep) continue;
      this.trees.delete(k);
      this.leaves -= slot.leaves;
    }
  }
}
