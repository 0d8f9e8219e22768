/**
 * OpenSSL's ChaCha20-Poly1305 with noble's HChaCha20 must be noble's XChaCha20-Poly1305 byte for
 * byte: on the sealed-batch and summary vectors, at random, and in what it refuses.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { openBatch, openSummary, parseBatch, sealBatch, useBatchPrimitives, type ReadingBody, type StreamName } from '../../src/index.js';
import { installNativeBatchCipher, nativeXChaCha20Poly1305, nativeXChaChaAvailable } from '../../src/native/index.js';

const batches = (JSON.parse(readFileSync(new URL('../../../../docs/vectors/sealed-batch-v1.json', import.meta.url), 'utf8')) as {
  batches: Array<{ dkHex: string; nonceHex: string; stream: StreamName; patientId: string; deviceId: string; epoch: number; seq: number; bodies: ReadingBody[]; sealedHex: string }>;
}).batches;
const summaries = (JSON.parse(readFileSync(new URL('../../../../docs/vectors/summary-v2.json', import.meta.url), 'utf8')) as {
  summaries: Array<{ dkHex: string; sealedHex: string }>;
}).summaries;

describe('native XChaCha20-Poly1305 (OpenSSL ChaCha20-Poly1305 + noble HChaCha20)', () => {
  afterEach(() => useBatchPrimitives({}));

  it('runs on this machine', () => assert.equal(nativeXChaChaAvailable, true));

  it('seals the sealed-batch vectors byte for byte, and opens them and the summary vectors', () => {
    assert.equal(installNativeBatchCipher(), true);
    for (const v of batches) {
      const sealed = sealBatch(hexToBytes(v.dkHex), { stream: v.stream, patientId: v.patientId, deviceId: v.deviceId, epoch: v.epoch, seq: v.seq, bodies: v.bodies }, hexToBytes(v.nonceHex));
      assert.equal(bytesToHex(sealed.bytes), v.sealedHex);
      const p = parseBatch(hexToBytes(v.sealedHex));
      assert.ok(p.ok);
      const o = openBatch(hexToBytes(v.dkHex), p.value);
      assert.ok(o.ok, o.ok ? '' : o.reason);
      assert.deepEqual(o.value, v.bodies);
    }
    assert.ok(summaries.length > 0);
    for (const v of summaries) {
      const p = parseBatch(hexToBytes(v.sealedHex));
      assert.ok(p.ok);
      assert.ok(openSummary(hexToBytes(v.dkHex), p.value).ok);
    }
  });

  it('property: the same bytes as noble for any key, nonce, AAD and plaintext; each opens the other\'s', () => {
    fc.assert(fc.property(
      fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 24, maxLength: 24 }),
      fc.uint8Array({ maxLength: 100 }), fc.uint8Array({ maxLength: 5000 }),
      (key, nonce, aad, pt) => {
        const a = nativeXChaCha20Poly1305(key, nonce, aad).encrypt(pt);
        const b = xchacha20poly1305(key, nonce, aad).encrypt(pt);
        assert.equal(bytesToHex(a), bytesToHex(b));
        assert.equal(bytesToHex(nativeXChaCha20Poly1305(key, nonce, aad).decrypt(b)), bytesToHex(pt));
        assert.equal(bytesToHex(xchacha20poly1305(key, nonce, aad).decrypt(a)), bytesToHex(pt));
      }), { numRuns: 150 });
  });

  it('refuses what noble refuses: a flipped bit anywhere, another AAD, a short ciphertext, bad key and nonce sizes', () => {
    const key = new Uint8Array(32).fill(3);
    const nonce = new Uint8Array(24).fill(5);
    const aad = new Uint8Array([1, 2, 3]);
    const ct = nativeXChaCha20Poly1305(key, nonce, aad).encrypt(new Uint8Array(64).fill(9));
    for (let i = 0; i < ct.length; i += 7) {
      const t = Uint8Array.from(ct);
      t[i] = t[i]! ^ 0x10;
      assert.throws(() => nativeXChaCha20Poly1305(key, nonce, aad).decrypt(t));
    }
    assert.throws(() => nativeXChaCha20Poly1305(key, nonce, new Uint8Array([1, 2, 4])).decrypt(ct));
    assert.throws(() => nativeXChaCha20Poly1305(key, nonce, aad).decrypt(ct.subarray(0, 10)), /shorter than its tag/);
    assert.throws(() => nativeXChaCha20Poly1305(new Uint8Array(31), nonce, aad).encrypt(ct), /32 bytes/);
    assert.throws(() => nativeXChaCha20Poly1305(key, new Uint8Array(12), aad).encrypt(ct), /24 bytes/);
    // Through the batch API: a wrong key is a reason, never a throw.
    installNativeBatchCipher();
    const v = batches[0]!;
    const p = parseBatch(hexToBytes(v.sealedHex));
    assert.ok(p.ok);
    const wrong = openBatch(new Uint8Array(32).fill(1), p.value);
    assert.ok(!wrong.ok && /authentication failed/.test(wrong.reason));
  });
});
