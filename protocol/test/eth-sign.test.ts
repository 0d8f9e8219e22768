import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Wallet, getAddress, verifyMessage } from 'ethers';
import { bytesToHex } from '@noble/hashes/utils.js';
import { accountAddressOf, checksumAddress, personalSign } from '../src/index.js';

describe('Ethereum account signing on noble (eth-sign.ts), against ethers', () => {
  it('property: personal_sign is byte for byte what ethers signs, and recovers to the account', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.string({ maxLength: 300, unit: 'grapheme' }), async (sk, message) => {
      fc.pre(sk.some((b) => b !== 0) && bytesToHex(sk) < 'fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141');
      const w = new Wallet(`0x${bytesToHex(sk)}`);
      const sig = personalSign(sk, message);
      assert.equal(sig, await w.signMessage(message));
      assert.equal(verifyMessage(message, sig), w.address);
    }), { numRuns: 60 });
  });

  it('a SIWE-shaped message with newlines and non-ASCII signs as ethers does (length counted in UTF-8 bytes)', async () => {
    const w = Wallet.createRandom();
    const m = 'care.example wants you to sign in with your Ethereum account:\n0xabc\n\nSign in — Zürich ✓\n\nURI: https://care.example\nVersion: 1';
    assert.equal(personalSign(Uint8Array.from(Buffer.from(w.privateKey.slice(2), 'hex')), m), await w.signMessage(m));
  });

  it('property: checksumAddress is getAddress for any case of any address; a wrong mixed case or a non-address throws', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 20, maxLength: 20 }), (b) => {
      const lower = `0x${bytesToHex(b)}`;
      const good = getAddress(lower);
      assert.equal(checksumAddress(lower), good);
      assert.equal(checksumAddress(`0x${lower.slice(2).toUpperCase()}`), good);
      assert.equal(checksumAddress(good), good);
      const letters = [...good.slice(2)].map((c, i) => [c, i] as const).filter(([c]) => /[a-fA-F]/.test(c));
      fc.pre(letters.length >= 2);
      // One letter's case flipped: still mixed case, no longer the checksum.
      const [c, i] = letters[0]!;
      const flipped = `0x${good.slice(2, 2 + i)}${c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase()}${good.slice(3 + i)}`;
      if (flipped.slice(2) !== flipped.slice(2).toLowerCase() && flipped.slice(2) !== flipped.slice(2).toUpperCase()) assert.throws(() => checksumAddress(flipped), /checksum/);
    }), { numRuns: 200 });
    for (const bad of ['', '0x', '0x12', `0x${'g'.repeat(40)}`, `${'a'.repeat(42)}`, `0x${'a'.repeat(41)}`]) assert.throws(() => checksumAddress(bad), /not an address/);
  });

  it('the account of a key, checksummed, is the wallet address ethers gives', () => {
    const w = Wallet.createRandom();
    assert.equal(checksumAddress(accountAddressOf(Uint8Array.from(Buffer.from(w.privateKey.slice(2), 'hex')))), w.address);
  });
});
