import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import {
  cobsDecode, cobsEncode, crc16, decodeFrame, decodeFrameRaw, encodeFrame, encodeFrameRaw, fromDecimal, toDecimal,
  MAX_UART_FRAME_BYTES, type UartFrame,
} from '../src/index.js';

const shared = JSON.parse(readFileSync(new URL('../../../../shared/vectors/framing.json', import.meta.url), 'utf8')) as {
  cobs: Array<{ raw: string; encoded: string }>;
  crc16_ccitt_false: Array<{ ascii?: string; hex?: string; crc: string }>;
};
const ours = JSON.parse(readFileSync(new URL('../../../docs/vectors/uart-frame-v1.json', import.meta.url), 'utf8')) as {
  frames: Array<{ frame: UartFrame; rawHex: string; wireHex: string }>;
};

/** Bit-at-a-time CRC-16/CCITT-FALSE straight from its definition, to check the table-driven one. */
function crcReference(bytes: Uint8Array): number {
  let crc = 0xffff;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

describe('COBS (shared vectors)', () => {
  for (const v of shared.cobs) {
    it(`encodes and decodes ${v.raw.length > 24 ? v.raw.slice(0, 24) + '…' : v.raw}`, () => {
      assert.equal(bytesToHex(cobsEncode(hexToBytes(v.raw))), v.encoded);
      const d = cobsDecode(hexToBytes(v.encoded));
      assert.ok(d.ok, d.ok ? '' : d.reason);
      assert.equal(bytesToHex(d.value), v.raw);
    });
  }
  it('round-trips any bytes and never emits 0x00 before the delimiter (property)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 1200 }), (raw) => {
      const e = cobsEncode(raw);
      assert.equal(e.indexOf(0), e.length - 1);
      const d = cobsDecode(e);
      assert.ok(d.ok);
      assert.deepEqual(d.value, raw);
    }));
  });
  it('reports a zero inside a frame and a block running past the end', () => {
    assert.match((cobsDecode(hexToBytes('03110022')) as { reason: string }).reason, /unexpected 0x00/);
    assert.match((cobsDecode(hexToBytes('051122')) as { reason: string }).reason, /past the end/);
    assert.equal(cobsDecode(new Uint8Array(0)).ok, false);
  });
});

describe('CRC-16/CCITT-FALSE (shared vectors)', () => {
  for (const v of shared.crc16_ccitt_false) {
    const bytes = v.ascii !== undefined ? new TextEncoder().encode(v.ascii) : hexToBytes(v.hex!);
    it(`gives ${v.crc} for ${v.ascii ?? (v.hex || 'empty')}`, () => {
      assert.equal(crc16(bytes).toString(16).padStart(4, '0'), v.crc);
      assert.equal(crcReference(bytes).toString(16).padStart(4, '0'), v.crc);
    });
  }
  it('agrees with the bitwise definition on any input (property)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => assert.equal(crc16(b), crcReference(b))));
  });
});

describe('UART frames v1', () => {
  for (const v of ours.frames) {
    it(`matches the documented ${v.frame.type} vector`, () => {
      assert.equal(bytesToHex(encodeFrameRaw(v.frame)), v.rawHex);
      assert.equal(bytesToHex(encodeFrame(v.frame)), v.wireHex);
      const raw = hexToBytes(v.rawHex);
      assert.equal(crcReference(raw.subarray(0, -2)), (raw.at(-2)! << 8) | raw.at(-1)!);
      const d = decodeFrame(hexToBytes(v.wireHex));
      assert.ok(d.ok, d.ok ? '' : d.reason);
      assert.deepEqual(d.value, v.frame);
    });
  }

  it('rejects every single-bit flip of every vector (CRC)', () => {
    for (const v of ours.frames) {
      const raw = hexToBytes(v.rawHex);
      for (let i = 0; i < raw.length * 8; i++) {
        const t = raw.slice();
        t[i >> 3]! ^= 1 << (i & 7);
        const d = decodeFrameRaw(t);
        assert.equal(d.ok, false, `flip of bit ${i} in ${v.frame.type} accepted`);
        assert.match(d.ok ? '' : d.reason, /CRC mismatch/);
      }
    }
  });

  it('rejects truncation at every length', () => {
    for (const v of ours.frames) {
      const raw = hexToBytes(v.rawHex);
      for (let n = 0; n < raw.length; n++) assert.equal(decodeFrameRaw(raw.subarray(0, n)).ok, false);
    }
  });

  it('explains frames whose CRC is right but whose content is not', () => {
    const withCrc = (hex: string) => {
      const b = hexToBytes(hex);
      const out = new Uint8Array(b.length + 2);
      out.set(b);
      new DataView(out.buffer).setUint16(b.length, crc16(b));
      return out;
    };
    const head = '01' + '%%' + '0161' + '00000001' + '0000000000000001';
    const cases: Array<[string, RegExp]> = [
      [head.replace('%%', '7f'), /unknown frame type 0x7f/],
      ['02' + head.slice(2).replace('%%', '01'), /unsupported UART protocol version 2/],
      [head.replace('%%', '01') + '02' + '00fa' + '02' + '0001', /not a waveform/],
      [head.replace('%%', '01') + '00' + '00fa' + '03' + '000001', /sample width 3/],
      [head.replace('%%', '01') + '00' + '00fa' + '02' + '000102', /do not divide/],
      [head.replace('%%', '02') + '02' + '01' + '09' + '00' + '00000001' + '00', /component index 9/],
      [head.replace('%%', '10') + 'c8' + '00' + '0000', /battery 200%/],
      [head.replace('%%', '10') + '64' + '00' + '0000' + 'ff', /unexpected bytes/],
      [head.replace('%%', '21') + '0000', /truncated frame: gateway time/],
    ];
    for (const [hex, re] of cases) {
      const d = decodeFrameRaw(withCrc(hex));
      assert.equal(d.ok, false, hex);
      assert.match(d.ok ? '' : d.reason, re);
    }
    assert.match((decodeFrameRaw(new Uint8Array(MAX_UART_FRAME_BYTES + 1)) as { reason: string }).reason, /exceeds/);
  });

  const idArb = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,20}$/);
  const head = { deviceId: idArb, seq: fc.nat(0xffffffff), deviceTime: fc.nat({ max: Number.MAX_SAFE_INTEGER }) };
  const decimalArb = fc.tuple(fc.integer({ min: -2_000_000, max: 2_000_000 }), fc.integer({ min: 0, max: 4 })).map(([m, d]) => fromDecimal({ mantissa: m, exponent: -d }));
  const frameArb: fc.Arbitrary<UartFrame> = fc.oneof(
    fc.record({ ...head, type: fc.constant('waveform' as const), stream: fc.constantFrom('ecg' as const, 'ppg' as const), rate: fc.integer({ min: 1, max: 65535 }),
      samples: fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { minLength: 1, maxLength: 200 }) }),
    fc.record({ ...head, type: fc.constant('waveform' as const), stream: fc.constant('acc' as const), rate: fc.integer({ min: 1, max: 1000 }),
      samples: fc.array(fc.integer({ min: -32768, max: 32767 }), { minLength: 3, maxLength: 3 }) }),
    fc.record({ ...head, type: fc.constant('scalar' as const), stream: fc.constant('bp' as const), values: fc.record({ sys: decimalArb, dia: decimalArb }) }),
    fc.record({ ...head, type: fc.constant('scalar' as const), stream: fc.constant('hr' as const), values: fc.record({ hr: decimalArb }), rr: fc.array(decimalArb, { minLength: 1, maxLength: 10 }) }),
    fc.record({ ...head, type: fc.constant('status' as const), battery: fc.integer({ min: 0, max: 100 }), leadOff: fc.boolean(), sensorError: fc.boolean(), charging: fc.boolean(), errorCode: fc.nat(0xffff) }),
    fc.record({ ...head, type: fc.constantFrom('time-sync-request' as const, 'time-sync-response' as const), gatewayTime: fc.nat({ max: Number.MAX_SAFE_INTEGER }) }),
  );

  it('decode(encode(frame)) = frame (property)', () => {
    fc.assert(fc.property(frameArb, (f) => {
      const d = decodeFrame(encodeFrame(f));
      assert.ok(d.ok, d.ok ? '' : d.reason);
      assert.deepEqual(d.value, structuredClone(f));
    }), { numRuns: 1000 });
  });

  it('never throws or hangs on arbitrary bytes, or on mutated valid frames (fuzz)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
      assert.equal(typeof decodeFrame(b).ok, 'boolean');
      assert.equal(typeof decodeFrameRaw(b).ok, 'boolean');
    }), { numRuns: 5000 });
    fc.assert(fc.property(frameArb, fc.nat(), fc.integer({ min: 0, max: 255 }), (f, at, byte) => {
      const raw = encodeFrameRaw(f);
      raw[at % raw.length] = byte;
      decodeFrameRaw(raw);
    }), { numRuns: 2000 });
  });
});

describe('exact decimals', () => {
  it('carries everyday readings exactly', () => {
    for (const v of [72.4, 36.85, 812, 846.5, 0.1, -3.25, 98, 0]) assert.equal(fromDecimal(toDecimal(v)!), v);
    assert.equal(toDecimal(Math.PI), undefined);
    assert.equal(toDecimal(Number.NaN), undefined);
  });
});
