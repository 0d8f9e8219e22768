/**
 * The Merkle check the dashboard runs in the browser (merkleProofHolds, from @vitalgate/protocol)
 * against OpenZeppelin's own StandardMerkleTree (through contracts' verifyBatchProof) and the trees
 * the gateway builds: property-based, it accepts exactly the proofs the library accepts: every
 * batch's own proof, and no proof of another batch, another root, or a proof with a bit flipped.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { buildBatchTree, verifyBatchProof } from '@vitalgate/contracts';
import { MerkleProofMemo, merkleProofHolds } from '@vitalgate/protocol';

const id = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));

describe('the browser\'s Merkle proof check', () => {
  it('property: agrees with OpenZeppelin\'s StandardMerkleTree on every proof of a tree, and on tampered ones', () => {
    fc.assert(fc.property(fc.uniqueArray(id, { minLength: 1, maxLength: 70 }), fc.nat(), fc.nat(), fc.integer({ min: 0, max: 255 }), (ids, pick, at, bit) => {
      const tree = buildBatchTree(ids);
      for (const x of ids) {
        const proof = tree.proof(x);
        assert.equal(merkleProofHolds(tree.root, x, proof), true);
        assert.equal(verifyBatchProof(tree.root, x, proof), true);
      }
      // Tampered: another id, a flipped bit in a proof step, or in the root.
      const x = ids[pick % ids.length]!;
      const proof = tree.proof(x);
      const other = ids[(pick + 1) % ids.length]!;
      const flip = (h: string, i: number) => {
        const b = Buffer.from(h.replace(/^0x/, ''), 'hex');
        b[i % 32]! ^= 1 << (bit % 8);
        return `0x${b.toString('hex')}`;
      };
      const cases: Array<[string, string, string[]]> = [
        [tree.root, `${x.slice(0, 63)}${x[63] === '0' ? '1' : '0'}`, proof],
        [flip(tree.root, at), x, proof],
        ...(proof.length ? [[tree.root, x, proof.map((h, i) => (i === at % proof.length ? flip(h, at) : h))] as [string, string, string[]]] : []),
        ...(other !== x ? [[tree.root, other, proof] as [string, string, string[]]] : []),
      ];
      for (const [root, value, p] of cases) assert.equal(merkleProofHolds(root, value, p), verifyBatchProof(root, value, p), `${root} ${value}`);
    }), { numRuns: 60 });
  });

  it('property: the memo (steps of proofs that held, not hashed again) answers as merkleProofHolds, warm or cold, tampered or not', () => {
    fc.assert(fc.property(fc.array(fc.uniqueArray(id, { minLength: 1, maxLength: 40 }), { minLength: 1, maxLength: 3 }), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 64 }), (forest, at, bit, maxSteps) => {
      const memo = new MerkleProofMemo(maxSteps);
      const flip = (h: string, i: number) => {
        const b = Buffer.from(h.replace(/^0x/, ''), 'hex');
        b[i % 32]! ^= 1 << (bit % 8);
        return `0x${b.toString('hex')}`;
      };
      for (const ids of forest) {
        const tree = buildBatchTree(ids);
        for (const [n, x] of ids.entries()) {
          const proof = tree.proof(x);
          const other = ids[(n + 1) % ids.length]!;
          const cases: Array<[string, string, string[]]> = [
            [tree.root, x, proof],
            [tree.root, x.toUpperCase(), proof],
            [flip(tree.root, at + n), x, proof],
            [tree.root, x, proof.map((h, i) => (i === (at + n) % Math.max(1, proof.length) ? flip(h, at) : h))],
            [tree.root, x, [...proof, 'zz']],
            [tree.root, x, proof.slice(0, -1)],
            ...(other !== x ? [[tree.root, other, proof] as [string, string, string[]]] : []),
          ];
          for (const [root, value, p] of cases) assert.equal(memo.holds(root, value, p), merkleProofHolds(root, value, p), `${root} ${value} ${p.join(',')}`);
          assert.equal(memo.holds(tree.root, x, proof), true, 'again, from the memo');
        }
      }
    }), { numRuns: 40 });
  });

  it('never throws on malformed input: false', () => {
    fc.assert(fc.property(fc.string(), fc.string(), fc.array(fc.string(), { maxLength: 5 }), (r, v, p) => {
      assert.equal(typeof merkleProofHolds(r, v, p), 'boolean');
    }));
    const tree = buildBatchTree(['aa'.repeat(32), 'bb'.repeat(32)]);
    assert.equal(merkleProofHolds(tree.root, `0x${'aa'.repeat(32)}`, tree.proof('aa'.repeat(32))), true, '0x or not');
    assert.equal(merkleProofHolds(tree.root, 'aa'.repeat(32), [...tree.proof('aa'.repeat(32)), 'zz']), false);
    assert.equal(merkleProofHolds(tree.root, 'aa'.repeat(32), Array.from({ length: 65 }, () => tree.root)), false, 'a proof longer than any tree');
  });
});
