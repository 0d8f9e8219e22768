import assert from 'node:assert/strict';
import fc from 'fast-check';
import { foreignCborHr } from '@vitalgate/test-support';
import {
  decodeCbor, decodePayload, encodeBodies, encodeBody, encodeCbor, MAX_PAYLOAD_BYTES, parseReadingTopic, readingTopic, STREAM_NAMES,
  type ReadingBody,
} from '../src/index.js';

const te = new TextEncoder();
const json = (o: unknown) => te.encode(JSON.stringify(o));
const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const T0 = Date.UTC(2026, 10, 21);

describe('reading payloads', () => {
  const ecg: ReadingBody = { seq: 10, ts: T0, rate: 250, samples: [1, -2, 1200, 30] };
  const hr: ReadingBody = { seq: 11, ts: T0, values: { hr: 71.5 }, rr: [840.8, 830] };

  for (const enc of ['json', 'cbor'] as const) {
    it(`round-trips waveform and scalar bodies as ${enc}`, () => {
      for (const [stream, body] of [['ecg', ecg], ['hr', hr]] as const) {
        const r = decodePayload(stream, encodeBody(body, enc));
        assert.ok(r.ok, r.ok ? '' : r.reason);
        assert.equal(r.value.encoding, enc);
        assert.deepEqual(r.value.body, body);
      }
    });
  }

  it('makes CBOR smaller than JSON for a 25-sample ECG frame', () => {
    const frame: ReadingBody = { seq: 123456, ts: T0, rate: 250, samples: Array.from({ length: 25 }, (_, i) => Math.round(1200 * Math.sin(i) - 80)) };
    assert.ok(encodeBody(frame, 'cbor').length < 0.7 * encodeBody(frame, 'json').length);
  });

  const bad: Array<[string, string, unknown, RegExp]> = [
    ['non-object', 'hr', [1, 2], /neither a JSON object nor a CBOR map/],
    ['missing seq', 'hr', { ts: T0, values: { hr: 60 } }, /seq/],
    ['negative seq', 'hr', { seq: -1, ts: T0, values: { hr: 60 } }, /seq/],
    ['float ts', 'hr', { seq: 1, ts: 1.5, values: { hr: 60 } }, /ts/],
    ['ts in 1970', 'hr', { seq: 1, ts: 1000, values: { hr: 60 } }, /outside/],
    ['unknown field', 'hr', { seq: 1, ts: T0, values: { hr: 60 }, extra: 1 }, /unknown field "extra"/],
    ['unknown component', 'spo2', { seq: 1, ts: T0, values: { spo2: 97, foo: 1 } }, /unknown component "foo"/],
    ['missing component', 'bp', { seq: 1, ts: T0, values: { sys: 120 } }, /missing component "dia"/],
    ['SpO2 above 100', 'spo2', { seq: 1, ts: T0, values: { spo2: 101 } }, /outside 0..100/],
    ['rr on temperature', 'temp', { seq: 1, ts: T0, values: { temp: 37 }, rr: [800] }, /unknown field "rr"/],
    ['string sample', 'ecg', { seq: 1, ts: T0, rate: 250, samples: [1, '2'] }, /sample 1/],
    ['fractional sample', 'ecg', { seq: 1, ts: T0, rate: 250, samples: [1.5] }, /sample 0/],
    ['empty frame', 'ecg', { seq: 1, ts: T0, rate: 250, samples: [] }, /empty/],
    ['zero rate', 'ecg', { seq: 1, ts: T0, rate: 0, samples: [1] }, /rate/],
    ['acc not a multiple of 3', 'acc', { seq: 1, ts: T0, rate: 50, samples: [1, 2, 3, 4] }, /channels/],
    ['__proto__ key', 'hr', JSON.parse('{"seq":1,"ts":1763683200000,"values":{"hr":60},"__proto__":{"x":1}}'), /unknown field "__proto__"/],
  ];
  for (const [name, stream, payload, reason] of bad) {
    it(`rejects ${name} with a clear reason`, () => {
      const r = decodePayload(stream as 'hr', json(payload));
      assert.equal(r.ok, false);
      assert.match(r.ok ? '' : r.reason, reason);
    });
  }

  it('rejects malformed JSON, malformed CBOR, empty and oversize payloads', () => {
    const cases: Array<[Uint8Array, RegExp]> = [
      [te.encode('{"seq":'), /malformed JSON/],
      [new Uint8Array([0xa1, 0x63, 0x73]), /malformed CBOR/],
      [new Uint8Array(0), /empty/],
      [new Uint8Array(MAX_PAYLOAD_BYTES + 1).fill(0x20), /exceeds/],
      [new Uint8Array([0xff, 0xfe]), /neither/],
    ];
    for (const [bytes, re] of cases) {
      const r = decodePayload('ecg', bytes);
      assert.equal(r.ok, false);
      assert.match(r.ok ? '' : r.reason, re);
    }
  });

  it('never throws on arbitrary bytes, for every stream (fuzz)', () => {
    fc.assert(fc.property(fc.constantFrom(...STREAM_NAMES), fc.uint8Array({ maxLength: 300 }), (stream, bytes) => {
      const r = decodePayload(stream, bytes);
      assert.equal(typeof r.ok, 'boolean');
    }), { numRuns: 3000 });
    // Mutations of a valid CBOR frame reach deeper than random bytes.
    const valid = encodeBody({ seq: 5, ts: T0, rate: 250, samples: [1, 2, 3, 40000, -70000] }, 'cbor');
    fc.assert(fc.property(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 }), (i, b) => {
      const t = valid.slice();
      t[i] = b;
      decodePayload('ecg', t);
    }), { numRuns: 3000 });
  });

  it('never throws on arbitrary JSON values (fuzz)', () => {
    fc.assert(fc.property(fc.constantFrom(...STREAM_NAMES), fc.jsonValue(), (stream, v) => {
      decodePayload(stream, json(v));
    }), { numRuns: 2000 });
  });
});

describe('a batch\'s plaintext from payloads as received (encodeBodies)', () => {
  const bodyArb = fc.oneof(
    fc.record({ seq: fc.nat(), ts: fc.integer({ min: T0, max: T0 + 1e9 }), rate: fc.constant(250), samples: fc.array(fc.integer({ min: -40000, max: 40000 }), { minLength: 1, maxLength: 40 }) }),
    fc.record({ seq: fc.nat(), ts: fc.integer({ min: T0, max: T0 + 1e9 }), values: fc.record({ hr: fc.double({ min: 20, max: 250, noNaN: true }) }) }),
  ) as fc.Arbitrary<ReadingBody>;

  it('is byte for byte encodeCbor(bodies) when devices encode as we do, whichever bodies came as bytes (property)', () => {
    fc.assert(fc.property(fc.array(fc.tuple(bodyArb, fc.boolean()), { maxLength: 60 }), (items) => {
      const bodies = items.map(([b]) => b);
      const asReceived = items.map(([b, raw]) => (raw ? encodeCbor(b) : undefined));
      assert.equal(hex(encodeBodies(bodies, asReceived)), hex(encodeCbor(bodies)));
    }), { numRuns: 300 });
  });

  it('writes the shortest array head at every length boundary (RFC 8949 §3)', () => {
    const one: ReadingBody = { seq: 1, ts: T0, values: { hr: 60 } };
    const bytes = encodeCbor(one);
    for (const n of [0, 1, 23, 24, 255, 256, 65535, 65536]) {
      const bodies = new Array<ReadingBody>(n).fill(one);
      assert.equal(hex(encodeBodies(bodies, new Array<Uint8Array>(n).fill(bytes))), hex(encodeCbor(bodies)), `${n} items`);
    }
  });

  it('passes on a valid payload that another encoder wrote, and it decodes to the very body validated', () => {
    const raw = foreignCborHr(7, T0);
    const r = decodePayload('hr', raw);
    assert.ok(r.ok, r.ok ? '' : r.reason);
    assert.equal(r.value.encoding, 'cbor');
    assert.deepEqual(r.value.body, { seq: 7, ts: T0, values: { hr: 71.5 }, rr: [840.5] });
    assert.notEqual(hex(encodeCbor(r.value.body)), hex(raw), 'the test payload must differ from our own encoding');
    const plain = encodeBodies([r.value.body], [raw]);
    assert.equal(hex(plain), hex(Uint8Array.from([0x81, ...raw])));
    const back = decodeCbor(plain);
    assert.ok(back.ok);
    assert.deepEqual(back.value, [r.value.body]);
  });
});

describe('topics', () => {
  it('round-trips a reading topic', () => {
    const r = parseReadingTopic(readingTopic('patient-1', 'band.7', 'spo2'));
    assert.deepEqual(r, { ok: true, value: { patientId: 'patient-1', deviceId: 'band.7', stream: 'spo2' } });
  });
  for (const t of ['vg/v1/p/d', 'vg/v2/p/d/ecg', 'vg/v1/p/d/ecg/x', 'vg/v1/p/d/bogus', 'vg/v1/+/d/ecg', 'vg/v1//d/ecg', 'vg/v1/p/d/status']) {
    it(`refuses ${t}`, () => assert.equal(parseReadingTopic(t).ok, false));
  }
});
