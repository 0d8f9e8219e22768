/**
 * The gateway's batch primitives from node:crypto (SHA-256, pooled nonces) must change no byte:
 * batch and pack ids are noble's SHA-256, and nonces are fresh random bytes, never repeated.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { batchId, encodePack, parseBatch, sealBatch, useBatchPrimitives, type ReadingBody, type StreamName } from '../../src/index.js';
import { installNativeBatchCipher, nativeSha256, RandomPool } from '../../src/native/index.js';

const batches = (JSON.parse(readFileSync(new URL('../../../../docs/vectors/sealed-batch-v1.json', import.meta.url), 'utf8')) as {
  batches: Array<{ dkHex: string; nonceHex: string; stream: StreamName; patientId: string; deviceId: string; epoch: number; seq: number; bodies: ReadingBody[]; sealedHex: string; batchId: string }>;
}).batches;

describe('native batch primitives (OpenSSL SHA-256, pooled CSPRNG nonces)', () => {
  afterEach(() => useBatchPrimitives({}));

  it('SHA-256: the same digest as noble for any bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 9000 }), (b) => assert.equal(bytesToHex(nativeSha256(b)), bytesToHex(sha256(b)))), { numRuns: 200 });
  });

  it('installed: the vectors keep their batch ids, and a pack its id', () => {
    const packOf = (bs: Uint8Array[]) => encodePack(bs).id;
    const sealed = batches.map((v) => hexToBytes(v.sealedHex));
    const nobleIds = sealed.map(batchId);
    const noblePack = packOf(sealed);
    installNativeBatchCipher();
    for (const [i, v] of batches.entries()) {
      assert.equal(batchId(sealed[i]!), v.batchId);
      assert.equal(nobleIds[i], v.batchId);
      const again = sealBatch(hexToBytes(v.dkHex), { stream: v.stream, patientId: v.patientId, deviceId: v.deviceId, epoch: v.epoch, seq: v.seq, bodies: v.bodies }, hexToBytes(v.nonceHex));
      assert.equal(again.id, v.batchId);
    }
    assert.equal(packOf(sealed), noblePack);
  });

  it('installed: every sealed batch gets its own 24-byte nonce from the pool, across refills', () => {
    installNativeBatchCipher();
    const key = new Uint8Array(32).fill(7);
    const seen = new Set<string>();
    // 24-byte nonces from a 4 KiB pool: 500 seals cross the refill point a few times.
    for (let i = 0; i < 500; i++) {
      const s = sealBatch(key, { stream: 'hr', patientId: 'p', deviceId: 'd', epoch: 1, seq: i, bodies: [{ seq: i, ts: 1_700_000_000_000 + i, values: { hr: 60 } }] });
      const p = parseBatch(s.bytes);
      assert.ok(p.ok);
      assert.equal(p.value.header.nonce.length, 24);
      seen.add(bytesToHex(p.value.header.nonce));
    }
    assert.equal(seen.size, 500);
  });

  it('RandomPool: lengths as asked, no bytes handed out twice, copies that a refill does not change, large requests served directly', () => {
    const pool = new RandomPool();
    const first = pool.take(24);
    const copy = Uint8Array.from(first);
    const all: Uint8Array[] = [first];
    for (let i = 0; i < 1000; i++) all.push(pool.take(1 + (i % 40)));
    assert.deepEqual(first, copy, 'a refill must not rewrite bytes already handed out');
    assert.ok(all.every((b, i) => b.length === (i === 0 ? 24 : 1 + ((i - 1) % 40))));
    const big = all.filter((b) => b.length >= 16).map(bytesToHex);
    assert.equal(new Set(big).size, big.length);
    assert.equal(pool.take(10_000).length, 10_000);
  });
});
