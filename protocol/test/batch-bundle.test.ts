/**
 * The batch bundle's download mode (GET /v1/clinician/bundle): items with anchors and proofs, a
 * `next` cursor, empty pages, a larger manifest; upload bundles keep their rules. Properties: what is
 * encoded parses back to the same items, bodies and cursor, and re-encodes to the same bytes; the
 * parser never throws, on random bytes, on flipped bytes, or on manifests with fields of any shape.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  MAX_BUNDLE_BATCHES, MAX_DOWNLOAD_MANIFEST_BYTES, MAX_MANIFEST_BYTES, MAX_PROOF_LENGTH, encodeBundle, encodeDownloadBundle, parseBundle, parseDownloadBundle,
  type BundleAnchor, type BundleItem,
} from '../src/index.js';

const hex = (n: number) => fc.uint8Array({ minLength: n, maxLength: n }).map((b) => Buffer.from(b).toString('hex'));
const hash = hex(32).map((h) => `0x${h}`);
const anchorArb: fc.Arbitrary<BundleAnchor> = fc.record({
  gateway: hex(20).map((h) => `0x${h}`), root: hash, tx: hash, block: fc.nat(), proof: fc.array(hash, { maxLength: 20 }),
});
const str = fc.string({ minLength: 1, maxLength: 40 });
const entry = fc.record({
  item: fc.record({
    id: hex(32), patientAccount: hex(20).map((h) => `0x${h}`), patient: str, stream: fc.constantFrom('hr', 'ecg', 'spo2'), device: str,
    epoch: fc.nat(), seq: fc.nat(), firstTs: fc.nat(), lastTs: fc.nat(), count: fc.nat(), anchor: fc.option(anchorArb, { nil: undefined }),
  }, { requiredKeys: ['id', 'patientAccount', 'patient', 'stream', 'device', 'epoch', 'seq', 'firstTs', 'lastTs', 'count'] }),
  bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }),
});
const cursor = fc.option(fc.string({ minLength: 1, maxLength: 200 }), { nil: null });

const manifestOf = (bytes: Uint8Array) => JSON.parse(Buffer.from(bytes.subarray(9, 9 + Buffer.from(bytes).readUInt32BE(5))).toString('utf8')) as Record<string, unknown>;
const framed = (manifest: unknown, tail: Uint8Array = new Uint8Array()) => {
  const m = Buffer.from(JSON.stringify(manifest));
  const head = Buffer.alloc(9);
  head.write('VGBB', 0, 'latin1');
  head[4] = 1;
  head.writeUInt32BE(m.length, 5);
  return new Uint8Array(Buffer.concat([head, m, tail]));
};

describe('batch bundle, download mode', () => {
  it('property: a download page parses back to its items (anchors included), bodies and cursor, and re-encodes to the same bytes', () => {
    fc.assert(fc.property(fc.array(entry, { maxLength: 12 }), cursor, (batches, next) => {
      const bytes = encodeDownloadBundle(batches, next);
      const p = parseDownloadBundle(bytes);
      assert.ok(p.ok, p.ok ? '' : p.reason);
      assert.equal(p.value.next, next);
      assert.equal(p.value.items.length, batches.length);
      p.value.items.forEach((it, i) => {
        // (through JSON: the arbitraries' objects have no prototype, the parser's do)
        const want = JSON.parse(JSON.stringify({ ...batches[i]!.item, bytes: batches[i]!.bytes.length })) as BundleItem;
        assert.deepEqual(it, want);
        assert.deepEqual(p.value.bodies[i], batches[i]!.bytes);
      });
      assert.deepEqual(encodeDownloadBundle(p.value.items.map((item, i) => ({ item, bytes: p.value.bodies[i]! })), p.value.next ?? null), bytes);
    }), { numRuns: 300 });
  });

  it('property: the parser never throws, in either mode, on random bytes, flipped bytes, or manifests of any shape', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
      assert.equal(typeof parseDownloadBundle(bytes).ok, 'boolean');
      assert.equal(typeof parseBundle(bytes).ok, 'boolean');
    }), { numRuns: 500 });
    fc.assert(fc.property(fc.array(entry, { minLength: 1, maxLength: 4 }), cursor, fc.nat(), fc.integer({ min: 1, max: 255 }), (batches, next, at, x) => {
      const t = encodeDownloadBundle(batches, next).slice();
      t[at % t.length]! ^= x;
      assert.equal(typeof parseDownloadBundle(t).ok, 'boolean');
    }), { numRuns: 300 });
    // Known keys holding anything JSON can: each is refused with a reason or taken, never a throw.
    const keys = ['id', 'patientAccount', 'patient', 'stream', 'device', 'epoch', 'seq', 'firstTs', 'lastTs', 'count', 'bytes', 'anchor'];
    fc.assert(fc.property(fc.constantFrom(...keys, 'gateway', 'root', 'tx', 'block', 'proof', 'next'), fc.jsonValue(), fc.array(entry, { minLength: 1, maxLength: 2 }), (key, value, batches) => {
      const good = encodeDownloadBundle(batches.map((b) => ({ ...b, item: { ...b.item, anchor: b.item.anchor ?? { gateway: `0x${'11'.repeat(20)}`, root: `0x${'22'.repeat(32)}`, tx: `0x${'33'.repeat(32)}`, block: 1, proof: [] } } })), 'c');
      const m = manifestOf(good) as { batches: Array<Record<string, unknown> & { anchor: Record<string, unknown> }>; next: unknown };
      if (key === 'next') m.next = value;
      else if (keys.includes(key)) m.batches[0]![key] = value;
      else m.batches[0]!.anchor[key] = value;
      const bodies = Buffer.concat(batches.map((b) => b.bytes));
      const p = parseDownloadBundle(framed(m, bodies));
      assert.equal(typeof p.ok, 'boolean');
      if (p.ok) p.value.items.forEach((it) => assert.ok(it.anchor === undefined || (typeof it.anchor.root === 'string' && Array.isArray(it.anchor.proof))));
    }), { numRuns: 1000 });
  });

  it('an empty page is a download bundle, never an upload; the download manifest may be larger; proofs are bounded', () => {
    const empty = encodeDownloadBundle([], 'abc');
    assert.deepEqual(parseDownloadBundle(empty), { ok: true, value: { items: [], bodies: [], next: 'abc' } });
    assert.equal(parseBundle(empty).ok, false, 'an upload lists at least one batch');
    assert.throws(() => encodeBundle([]), /1\.\.256/);
    assert.deepEqual(parseDownloadBundle(encodeDownloadBundle([], null)), { ok: true, value: { items: [], bodies: [], next: null } });

    const b = { item: { id: 'a'.repeat(64), patientAccount: `0x${'1'.repeat(40)}`, patient: 'p', stream: 'hr', device: 'd', epoch: 1, seq: 1, firstTs: 1, lastTs: 2, count: 1 }, bytes: new Uint8Array([1]) };
    const proof = Array.from({ length: MAX_PROOF_LENGTH }, () => `0x${'ab'.repeat(32)}`);
    const anchor = { gateway: `0x${'2'.repeat(40)}`, root: `0x${'cd'.repeat(32)}`, tx: `0x${'ef'.repeat(32)}`, block: 7, proof };
    // 256 items each with the longest proof: over an upload's manifest bound, within a download's.
    const full = Array.from({ length: MAX_BUNDLE_BATCHES }, () => ({ item: { ...b.item, anchor }, bytes: b.bytes }));
    const page = encodeDownloadBundle(full, null);
    const m = Buffer.from(page).readUInt32BE(5);
    assert.ok(m > MAX_MANIFEST_BYTES && m <= MAX_DOWNLOAD_MANIFEST_BYTES, `${m}`);
    assert.ok(parseDownloadBundle(page).ok);
    assert.match((parseBundle(page) as { reason: string }).reason, /manifest length/);
    assert.throws(() => encodeBundle(full), /too large/);
    assert.throws(() => encodeDownloadBundle([...full, full[0]!], null), /0\.\.256/);

    const tooLong = framed({ batches: [{ ...b.item, bytes: 1, anchor: { ...anchor, proof: [...proof, proof[0]] } }] }, b.bytes);
    assert.match((parseDownloadBundle(tooLong) as { reason: string }).reason, /anchor\.proof/);
    const badRoot = framed({ batches: [{ ...b.item, bytes: 1, anchor: { ...anchor, root: '0x12' } }] }, b.bytes);
    assert.match((parseDownloadBundle(badRoot) as { reason: string }).reason, /anchor\.root/);
    const badNext = framed({ batches: [], next: 5 });
    assert.match((parseDownloadBundle(badNext) as { reason: string }).reason, /next/);
    // An upload bundle with an anchor on an item (no gateway sends one) still parses: readers ignore what they do not use.
    assert.ok(parseBundle(framed({ batches: [{ ...b.item, bytes: 1, anchor }] }, b.bytes)).ok);
  });
});
