import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import { keccak256, toUtf8Bytes } from 'ethers';
import {
  ALL_STREAMS,
  BatchMerkleTree,
  batchLeaf,
  buildBatchTree,
  patientRef,
  streamIdsOf,
  streamMask,
  toBytes32Hex,
  verifyBatchProof,
} from '../src/index.js';

const ids = (n: number): string[] => Array.from({ length: n }, () => `0x${randomBytes(32).toString('hex')}`);

describe('contracts: batch Merkle helpers', () => {
  it('leaf = keccak256(keccak256(abi.encode(bytes32))), as StandardMerkleTree ["bytes32"]', () => {
    const id = ids(1)[0]!;
    const lib = StandardMerkleTree.of([[id]], ['bytes32']);
    assert.equal(batchLeaf(id), lib.leafHash([id]));
    assert.equal(batchLeaf(id), keccak256(keccak256(id)));
  });

  it('builds the same root and proofs as StandardMerkleTree.of for many sizes', () => {
    for (const n of [1, 2, 3, 4, 5, 7, 8, 9, 16, 33, 100]) {
      const values = ids(n);
      const lib = StandardMerkleTree.of(
        values.map((v) => [v]),
        ['bytes32'],
      );
      const mine = buildBatchTree(values);
      assert.equal(mine.root, lib.root, `root for n=${n}`);
      assert.equal(mine.count, n);
      for (const v of values) {
        assert.deepEqual(mine.proof(v), lib.getProof([v]), `proof for n=${n}`);
        assert.ok(verifyBatchProof(mine.root, v, mine.proof(v)));
      }
      assert.deepEqual(mine.dump(), lib.dump(), `dump for n=${n}`);
    }
  });

  it('a single batch: root is its leaf, proof is empty', () => {
    const [id] = ids(1) as [string];
    const t = buildBatchTree([id]);
    assert.equal(t.root, batchLeaf(id));
    assert.deepEqual(t.proof(id), []);
    assert.ok(verifyBatchProof(t.root, id, []));
  });

  it('accepts bytes and hex with or without 0x; de-duplicates; rejects bad sizes and empty lists', () => {
    const raw = randomBytes(32);
    const hex = raw.toString('hex');
    const t = buildBatchTree([raw, hex, `0x${hex.toUpperCase()}`, ids(1)[0]!]);
    assert.equal(t.count, 2);
    assert.ok(t.has(raw) && t.has(hex));
    assert.equal(toBytes32Hex(raw), `0x${hex}`);
    assert.throws(() => buildBatchTree([]), /at least one/);
    assert.throws(() => buildBatchTree([randomBytes(31)]), /32 bytes/);
    assert.throws(() => buildBatchTree(['0x1234']), /32 bytes/);
    assert.throws(() => t.proof(ids(1)[0]!), /not in the tree/);
  });

  it('verifyBatchProof is false for a wrong id, proof or root', () => {
    const values = ids(10);
    const t = buildBatchTree(values);
    const v = values[3]!;
    const proof = t.proof(v);
    assert.equal(verifyBatchProof(t.root, ids(1)[0]!, proof), false);
    assert.equal(verifyBatchProof(t.root, v, t.proof(values[4]!)), false);
    assert.equal(verifyBatchProof(ids(1)[0]!, v, proof), false);
    assert.equal(verifyBatchProof(t.root, v, proof.slice(1)), false);
    assert.equal(verifyBatchProof(t.root, v, ['0x12']), false);
  });

  it('dump() loads in StandardMerkleTree and BatchMerkleTree.load; a tampered dump is rejected', () => {
    const t = buildBatchTree(ids(20));
    const d = t.dump();
    const lib = StandardMerkleTree.load(JSON.parse(JSON.stringify(d)) as Parameters<typeof StandardMerkleTree.load>[0]);
    assert.equal(lib.root, t.root);
    lib.validate();
    const again = BatchMerkleTree.load(JSON.parse(JSON.stringify(d)));
    assert.equal(again.root, t.root);
    const bad = JSON.parse(JSON.stringify(d)) as typeof d;
    bad.tree[0] = toBytes32Hex(randomBytes(32));
    assert.throws(() => BatchMerkleTree.load(bad), /does not match/);
    assert.throws(() => BatchMerkleTree.load({ ...d, leafEncoding: ['uint256'] }), /leaf encoding/);
  });

  it('proofs() yields every value with a valid proof', () => {
    const values = ids(9);
    const t = buildBatchTree(values);
    const seen = [...t.proofs()];
    assert.deepEqual(
      seen.map((p) => p.batchId),
      values.map((v) => v.toLowerCase()),
    );
    for (const { batchId, proof } of seen) assert.ok(verifyBatchProof(t.root, batchId, proof));
  });

  it('builds a 75,000-batch tree (one anchor period at 1000 devices) quickly', () => {
    const values = Array.from({ length: 75_000 }, () => randomBytes(32));
    const started = Date.now();
    const t = buildBatchTree(values);
    const proofs = values.slice(0, 1000).map((v) => t.proof(v));
    const ms = Date.now() - started;
    assert.equal(t.count, 75_000);
    assert.ok(proofs.every((p) => p.length === 16 || p.length === 17));
    assert.ok(verifyBatchProof(t.root, values[0]!, proofs[0]!));
    assert.ok(ms < 10_000, `took ${ms} ms`);
  });
});

describe('contracts: ids', () => {
  it('patientRef is keccak256 of the utf-8 id', () => {
    assert.equal(patientRef('patient-0001'), keccak256(toUtf8Bytes('patient-0001')));
    assert.notEqual(patientRef('patient-0001'), patientRef('patient-0002'));
    assert.throws(() => patientRef(''), /empty/);
  });

  it('streamMask uses bit (1 << id) for ids 0..8', () => {
    assert.equal(streamMask([0]), 1);
    assert.equal(streamMask([2, 3]), 0b1100);
    assert.equal(streamMask([0, 1, 2, 3, 4, 5, 6, 7, 8]), ALL_STREAMS);
    assert.equal(ALL_STREAMS, 0x1ff);
    assert.deepEqual(streamIdsOf(0b100010001), [0, 4, 8]);
    assert.throws(() => streamMask([9]), /invalid stream/);
    assert.throws(() => streamMask([-1]), /invalid stream/);
  });
});
