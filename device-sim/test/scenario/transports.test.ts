import assert from 'node:assert/strict';
import fc from 'fast-check';
import { flipOneBit } from '../../src/scenario/transports.js';

describe('scenario faults: a corrupted serial frame', () => {
  it('always differs from the frame sent, in one bit of one byte, and never gains a 0x00 delimiter', () => {
    // Every byte value, 0x10 included (it used to be left as it was: an intact frame counted as corrupted).
    for (let v = 1; v < 256; v++) {
      const bad = flipOneBit(Uint8Array.of(0, v, 0), 1);
      assert.notEqual(bad[1], v, `byte 0x${v.toString(16)} unchanged`);
      assert.notEqual(bad[1], 0, `byte 0x${v.toString(16)} became a delimiter`);
      const x = bad[1]! ^ v;
      assert.ok(x !== 0 && (x & (x - 1)) === 0, `more than one bit flipped in 0x${v.toString(16)}`);
    }
    fc.assert(fc.property(fc.uint8Array({ minLength: 3, maxLength: 64 }), fc.nat(), (frame, i) => {
      const at = 1 + (i % (frame.length - 2));
      const bad = flipOneBit(frame, at);
      assert.equal(bad.length, frame.length);
      assert.deepEqual([...bad.slice(0, at), ...bad.slice(at + 1)], [...frame.slice(0, at), ...frame.slice(at + 1)], 'only that byte');
      if (frame[at] !== 0) assert.notEqual(bad[at], 0);
      assert.notEqual(bad[at], frame[at]);
    }), { numRuns: 300 });
  });
});
