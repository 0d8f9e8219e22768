import assert from 'node:assert/strict';
import { createHash, hkdfSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { foreignCborHr } from '@vitalgate/test-support';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import {
  decodePayload, deriveEpochKey, encodeCbor, encodeHeader, epochKeyInfo, openBatch, parseBatch, sealBatch,
  STREAMS, type ReadingBody, type StreamName,
} from '../src/index.js';

const T0 = Date.UTC(2026, 10, 21);

interface KeyVector { pmsHex: string; patientId: string; stream: StreamName; epoch: number; infoHex: string; dkHex: string }
interface BatchVector {
  dkHex: string; nonceHex: string; stream: StreamName; patientId: string; deviceId: string; epoch: number; seq: number;
  bodies: ReadingBody[]; plaintextHex: string; headerHex: string; sealedHex: string; batchId: string;
}
const vectors = JSON.parse(readFileSync(new URL('../../../docs/vectors/sealed-batch-v1.json', import.meta.url), 'utf8')) as {
  keyDerivation: KeyVector[]; batches: BatchVector[];
};

describe('epoch key derivation', () => {
  for (const v of vectors.keyDerivation) {
    it(`matches the documented vector for ${v.stream} epoch ${v.epoch}`, () => {
      const pms = hexToBytes(v.pmsHex);
      assert.equal(bytesToHex(epochKeyInfo(v.patientId, v.stream, v.epoch)), v.infoHex);
      assert.equal(bytesToHex(deriveEpochKey(pms, v.patientId, v.stream, v.epoch)), v.dkHex);
      // An independent HKDF implementation (OpenSSL via node:crypto) must agree.
      const ref = Buffer.from(hkdfSync('sha256', pms, new Uint8Array(0), hexToBytes(v.infoHex), 32)).toString('hex');
      assert.equal(ref, v.dkHex);
    });
  }
  it('gives different keys for different patients, streams and epochs', () => {
    const pms = new Uint8Array(32).fill(9);
    const k = (p: string, s: StreamName, e: number) => bytesToHex(deriveEpochKey(pms, p, s, e));
    const keys = new Set([k('a', 'ecg', 1), k('b', 'ecg', 1), k('a', 'ppg', 1), k('a', 'ecg', 2), k('ab', 'ecg', 1)]);
    assert.equal(keys.size, 5);
  });
  it('refuses a short secret and an out-of-range epoch', () => {
    assert.throws(() => deriveEpochKey(new Uint8Array(16), 'p', 'ecg', 1), /32 bytes/);
    assert.throws(() => deriveEpochKey(new Uint8Array(32), 'p', 'ecg', 2 ** 32), /u32/);
  });
});

describe('sealed batch v1', () => {
  for (const v of vectors.batches) {
    it(`reproduces the documented ${v.stream} vector byte for byte`, () => {
      const sealed = sealBatch(hexToBytes(v.dkHex), { stream: v.stream, patientId: v.patientId, deviceId: v.deviceId, epoch: v.epoch, seq: v.seq, bodies: v.bodies }, hexToBytes(v.nonceHex));
      assert.equal(bytesToHex(encodeCbor(v.bodies)), v.plaintextHex);
      assert.equal(bytesToHex(encodeHeader(sealed.header)), v.headerHex);
      assert.equal(bytesToHex(sealed.bytes), v.sealedHex);
      assert.equal(sealed.id, v.batchId);
      assert.equal(createHash('sha256').update(hexToBytes(v.sealedHex)).digest('hex'), v.batchId);
    });
    it(`opens the documented ${v.stream} vector`, () => {
      const parsed = parseBatch(hexToBytes(v.sealedHex));
      assert.ok(parsed.ok);
      assert.equal(parsed.value.header.patientId, v.patientId);
      assert.equal(parsed.value.header.deviceId, v.deviceId);
      assert.equal(parsed.value.header.count, v.bodies.length);
      const opened = openBatch(hexToBytes(v.dkHex), parsed.value);
      assert.ok(opened.ok, opened.ok ? '' : opened.reason);
      assert.deepEqual(opened.value, v.bodies);
    });
  }

  const v = vectors.batches[0]!;
  const sealedBytes = hexToBytes(v.sealedHex);
  const headerLen = hexToBytes(v.headerHex).length;

  it('rejects every single flipped bit in the header or the ciphertext', () => {
    let parseFailures = 0;
    let authFailures = 0;
    for (let i = 0; i < sealedBytes.length; i++) {
      for (const bit of [0x01, 0x80]) {
        const t = sealedBytes.slice();
        t[i]! ^= bit;
        const p = parseBatch(t);
        if (!p.ok) { parseFailures++; continue; }
        const o = openBatch(hexToBytes(v.dkHex), p.value);
        assert.equal(o.ok, false, `flip at byte ${i} (${i < headerLen ? 'header' : 'ciphertext'}) was accepted`);
        if (!o.ok) { assert.match(o.reason, /authentication failed/); authFailures++; }
      }
    }
    assert.ok(authFailures > 0 && authFailures + parseFailures === sealedBytes.length * 2);
  });

  it('rejects a wrong key with an authentication error', () => {
    const p = parseBatch(sealedBytes);
    assert.ok(p.ok);
    const wrong = hexToBytes(v.dkHex);
    wrong[0]! ^= 1;
    const o = openBatch(wrong, p.value);
    assert.equal(o.ok, false);
    assert.match(o.ok ? '' : o.reason, /authentication failed/);
  });

  it('rejects a header moved onto another batch', () => {
    const other = hexToBytes(vectors.batches[1]!.sealedHex);
    const otherHeaderLen = hexToBytes(vectors.batches[1]!.headerHex).length;
    const spliced = new Uint8Array([...sealedBytes.subarray(0, headerLen), ...other.subarray(otherHeaderLen)]);
    const p = parseBatch(spliced);
    assert.ok(p.ok);
    assert.equal(openBatch(hexToBytes(v.dkHex), p.value).ok, false);
  });

  it('reports truncation at every length as a parse or authentication failure', () => {
    for (let n = 0; n < sealedBytes.length; n++) {
      const p = parseBatch(sealedBytes.subarray(0, n));
      if (p.ok) assert.equal(openBatch(hexToBytes(v.dkHex), p.value).ok, false);
    }
  });

  it('never throws on arbitrary bytes (fuzz)', () => {
    const key = hexToBytes(v.dkHex);
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
      const p = parseBatch(bytes);
      if (p.ok) openBatch(key, p.value);
    }), { numRuns: 2000 });
    fc.assert(fc.property(fc.nat(sealedBytes.length - 1), fc.uint8Array({ minLength: 1, maxLength: 8 }), (at, junk) => {
      const t = sealedBytes.slice();
      t.set(junk.subarray(0, t.length - at), at);
      const p = parseBatch(t);
      if (p.ok && bytesToHex(t) !== v.sealedHex) assert.equal(openBatch(key, p.value).ok, false);
    }), { numRuns: 1000 });
  });

  const streamArb = fc.constantFrom<StreamName>('ecg', 'ppg', 'hr', 'spo2', 'temp', 'acc');
  const bodyArb = (stream: StreamName): fc.Arbitrary<ReadingBody> => {
    const spec = STREAMS[stream];
    const base = { seq: fc.nat(), ts: fc.integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2100, 0, 1) }) };
    if (spec.kind === 'waveform') {
      const ch = spec.channels.length;
      return fc.record({
        ...base,
        rate: fc.constantFrom(25, 64, 250, 360, 500),
        samples: fc.array(fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { minLength: ch, maxLength: ch }), { minLength: 1, maxLength: 40 }).map((a) => a.flat()),
      });
    }
    const values = fc.record(Object.fromEntries(Object.entries(spec.components).filter(([, c]) => !c.optional)
      .map(([k, c]) => [k, fc.double({ min: c.min, max: c.max, noNaN: true })])) as Record<string, fc.Arbitrary<number>>);
    return spec.hasRr
      ? fc.record({ ...base, values, rr: fc.array(fc.double({ min: 200, max: 3000, noNaN: true }), { maxLength: 4 }) })
      : fc.record({ ...base, values });
  };

  it('round-trips any valid batch (property)', () => {
    fc.assert(fc.property(
      streamArb.chain((s) => fc.tuple(fc.constant(s), fc.array(bodyArb(s), { minLength: 1, maxLength: 20 }))),
      fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.nat(0xffffffff), fc.nat(0xffffffff),
      ([stream, bodies], key, epoch, seq) => {
        const sealed = sealBatch(key, { stream, patientId: 'p-1', deviceId: 'd.2', epoch, seq, bodies });
        const parsed = parseBatch(sealed.bytes);
        assert.ok(parsed.ok);
        assert.deepEqual({ ...parsed.value.header, nonce: undefined }, { ...sealed.header, nonce: undefined });
        const opened = openBatch(key, parsed.value);
        assert.ok(opened.ok, opened.ok ? '' : opened.reason);
        assert.deepEqual(opened.value, structuredClone(bodies));
      }), { numRuns: 300 });
  });

  it('seals payloads as received: another encoder\'s bytes open to the bodies validated, beside ones encoded here', () => {
    const key = new Uint8Array(32).fill(9);
    const raws = [foreignCborHr(1, T0), foreignCborHr(2, T0 + 1000)];
    const decoded = raws.map((r) => decodePayload('hr', r));
    const bodies = decoded.map((d) => {
      assert.ok(d.ok && d.value.encoding === 'cbor');
      return d.value.body;
    });
    // The middle one came as JSON (or from a serial link): nothing to pass on, so it is encoded here.
    const mid: ReadingBody = { seq: 3, ts: T0 + 2000, values: { hr: 64 } };
    const sealed = sealBatch(key, { stream: 'hr', patientId: 'p-1', deviceId: 'd.2', epoch: 1, seq: 0, bodies: [bodies[0]!, mid, bodies[1]!], asReceived: [raws[0], undefined, raws[1]] });
    const parsed = parseBatch(sealed.bytes);
    assert.ok(parsed.ok);
    const opened = openBatch(key, parsed.value);
    assert.ok(opened.ok, opened.ok ? '' : opened.reason);
    assert.deepEqual(opened.value, [bodies[0], mid, bodies[1]]);
    assert.equal(opened.value[0]!.seq, 1);
    assert.throws(() => sealBatch(key, { stream: 'hr', patientId: 'p-1', deviceId: 'd.2', epoch: 1, seq: 0, bodies, asReceived: [raws[0]] }), /1 received payloads for 2 bodies/);
  });
});
