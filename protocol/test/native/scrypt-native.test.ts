/**
 * OpenSSL's scrypt must give noble's bytes: the keystore's key-encryption key changed
 * implementation, and every existing keystore must still open.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { scrypt } from '@noble/hashes/scrypt.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { scryptNative } from '../../src/native/index.js';

describe('scryptNative (node:crypto) against noble scrypt', () => {
  it('RFC 7914 §12 vectors 1–2, the same as noble', async () => {
    const v1 = await scryptNative('', '', { N: 16, r: 1, p: 1, dkLen: 64 });
    assert.equal(bytesToHex(v1).slice(0, 32), '77d6576238657b203b19ca42c18a0497');
    const v2 = await scryptNative('password', 'NaCl', { N: 1024, r: 8, p: 16, dkLen: 64 });
    assert.equal(bytesToHex(v2).slice(0, 32), 'fdbabe1c9d3472007856e7190d01e9fe');
    assert.equal(bytesToHex(v2), bytesToHex(scrypt('password', 'NaCl', { N: 1024, r: 8, p: 16, dkLen: 64 })));
  });

  it('at random (passwords as text and bytes, salts, small costs): identical bytes', async () => {
    await fc.assert(fc.asyncProperty(
      fc.oneof(fc.string({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 })),
      fc.uint8Array({ maxLength: 32 }),
      fc.constantFrom(16, 64, 256), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 16, max: 64 }),
      async (pw, salt, N, r, p, dkLen) => {
        assert.equal(bytesToHex(await scryptNative(pw, salt, { N, r, p, dkLen })), bytesToHex(scrypt(pw, salt, { N, r, p, dkLen })));
      },
    ), { numRuns: 40 });
  });

  it("the keystore's cost (N=2^17, r=8: 128 MiB) is within the memory it allows", async () => {
    const k = await scryptNative('a passphrase', 'sixteen byte salt', { N: 2 ** 17, r: 8, p: 1, dkLen: 32 });
    assert.equal(k.length, 32);
  });

  it('refuses a cost that is not a power of two with an error, not a crash', async () => {
    await assert.rejects(scryptNative('x', 'y', { N: 1000, r: 8, p: 1, dkLen: 32 }));
  });
});
