import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AbiCoder, Interface } from 'ethers';
import { bytesToHex } from '@noble/hashes/utils.js';
import { decodeBoolWord, isRecordedCallData } from '../src/index.js';

const iface = new Interface(['function isRecorded(address submitter, bytes32 root) view returns (bool)']);
const hex = (n: number) => fc.uint8Array({ minLength: n, maxLength: n }).map((b) => `0x${bytesToHex(b)}`);

describe('DataAnchor.isRecorded as an eth_call without ethers (anchor-call.ts)', () => {
  it('property: the call data is what ethers encodes, for any submitter (any case) and root', () => {
    fc.assert(fc.property(hex(20), hex(32), fc.boolean(), (a, root, upper) => {
      const submitter = upper ? `0x${a.slice(2).toUpperCase()}` : a;
      assert.equal(isRecordedCallData(submitter, root), iface.encodeFunctionData('isRecorded', [a, root]));
    }), { numRuns: 200 });
    assert.throws(() => isRecordedCallData('0x12', `0x${'0'.repeat(64)}`), /not an address/);
    assert.throws(() => isRecordedCallData(`0x${'1'.repeat(40)}`, '0x12'), /0x \+ 64 hex/);
  });

  it('decodes exactly the two ABI bools; anything else is a reason, never a throw', () => {
    const coder = AbiCoder.defaultAbiCoder();
    assert.deepEqual(decodeBoolWord(coder.encode(['bool'], [true])), { ok: true, value: true });
    assert.deepEqual(decodeBoolWord(coder.encode(['bool'], [false])), { ok: true, value: false });
    fc.assert(fc.property(fc.oneof(fc.string(), hex(32), fc.integer(), fc.constant(null), fc.constant('0x')), (v) => {
      const r = decodeBoolWord(v);
      if (r.ok) assert.ok(v === coder.encode(['bool'], [r.value]));
    }), { numRuns: 300 });
    assert.equal(decodeBoolWord(`0x${'0'.repeat(63)}2`).ok, false);
  });
});
