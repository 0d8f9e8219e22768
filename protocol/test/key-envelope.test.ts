import assert from 'node:assert/strict';
import { createECDH, hkdfSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { bytesToHex, concatBytes, hexToBytes } from '@noble/hashes/utils.js';
import {
  ENVELOPE_BYTES, envelopePublicKey, envelopeRecipientKey, epochKeyInfo, openEnvelope, parseEnvelope, randomEnvelopeSecretKey,
  sealEnvelope, type EnvelopeContext, type StreamName,
} from '../src/index.js';

interface EnvelopeVector {
  recipientSecretKey: string; recipientPublicKey: string; recipientPublicKeyUncompressed: string;
  ephemeralSecretKey: string; ephemeralPublicKey: string; nonce: string;
  patientId: string; stream: StreamName; epoch: number; dk: string; sharedX: string; wrappingKey: string; envelope: string;
}
const vectors = JSON.parse(readFileSync(new URL('../../../docs/vectors/key-envelope-v1.json', import.meta.url), 'utf8')) as { envelopes: EnvelopeVector[] };

describe('key envelope v1', () => {
  for (const v of vectors.envelopes) {
    const ctx: EnvelopeContext = { patientId: v.patientId, stream: v.stream, epoch: v.epoch };
    it(`reproduces the documented vector byte for byte, from a compressed or an uncompressed key (${v.stream} epoch ${v.epoch})`, () => {
      const fixed = { ephemeralSecretKey: hexToBytes(v.ephemeralSecretKey), nonce: hexToBytes(v.nonce) };
      assert.equal(bytesToHex(envelopePublicKey(hexToBytes(v.recipientSecretKey))), v.recipientPublicKey);
      assert.equal(bytesToHex(sealEnvelope(hexToBytes(v.recipientPublicKey), hexToBytes(v.dk), ctx, fixed)), v.envelope);
      assert.equal(bytesToHex(sealEnvelope(hexToBytes(v.recipientPublicKeyUncompressed), hexToBytes(v.dk), ctx, fixed)), v.envelope);
    });
    it('agrees with independent implementations: ECDH and HKDF from OpenSSL (node:crypto)', () => {
      const ecdh = createECDH('secp256k1');
      ecdh.setPrivateKey(hexToBytes(v.ephemeralSecretKey));
      assert.equal(ecdh.getPublicKey('hex', 'compressed'), v.ephemeralPublicKey);
      const z = ecdh.computeSecret(hexToBytes(v.recipientPublicKey));
      assert.equal(z.toString('hex'), v.sharedX);
      const k = Buffer.from(hkdfSync('sha256', z, concatBytes(hexToBytes(v.ephemeralPublicKey), hexToBytes(v.recipientPublicKey)), 'vitalgate/v1/envelope', 32));
      assert.equal(k.toString('hex'), v.wrappingKey);
      const env = hexToBytes(v.envelope);
      const aad = concatBytes(env.subarray(0, 62), epochKeyInfo(v.patientId, v.stream, v.epoch));
      assert.equal(bytesToHex(xchacha20poly1305(k, hexToBytes(v.nonce), aad).decrypt(env.subarray(62))), v.dk);
    });
    it('opens with the recipient\'s secret key, and only for its own patient, stream and epoch', () => {
      const env = hexToBytes(v.envelope);
      const opened = openEnvelope(hexToBytes(v.recipientSecretKey), env, ctx);
      assert.ok(opened.ok, opened.ok ? '' : opened.reason);
      assert.equal(bytesToHex(opened.value), v.dk);
      for (const other of [{ ...ctx, epoch: ctx.epoch + 1 }, { ...ctx, stream: 'ecg' as const }, { ...ctx, patientId: `${ctx.patientId}x` }]) {
        const r = openEnvelope(hexToBytes(v.recipientSecretKey), env, other);
        assert.ok(!r.ok);
        assert.match(r.reason, /does not open with this key for this patient, stream and epoch/);
      }
    });
  }

  it('another key cannot open it; every flipped byte is refused with a reason, never an exception', () => {
    const v = vectors.envelopes[0]!;
    const ctx: EnvelopeContext = { patientId: v.patientId, stream: v.stream, epoch: v.epoch };
    const env = hexToBytes(v.envelope);
    assert.equal(env.length, ENVELOPE_BYTES);
    const wrong = openEnvelope(randomEnvelopeSecretKey(), env, ctx);
    assert.ok(!wrong.ok);
    for (let i = 0; i < env.length; i++) {
      const t = env.slice();
      t[i]! ^= 0x01;
      const r = openEnvelope(hexToBytes(v.recipientSecretKey), t, ctx);
      assert.ok(!r.ok, `byte ${i} flipped still opens`);
      assert.ok(r.reason.length > 0);
    }
  });

  it('opens the same with the recipient public key given (as a worker opening many passes it); a wrong one only fails', () => {
    for (const v of vectors.envelopes) {
      const ctx: EnvelopeContext = { patientId: v.patientId, stream: v.stream, epoch: v.epoch };
      const sk = hexToBytes(v.recipientSecretKey);
      const env = hexToBytes(v.envelope);
      const given = openEnvelope(sk, env, ctx, envelopePublicKey(sk));
      assert.ok(given.ok);
      assert.equal(bytesToHex(given.value), v.dk);
      const wrong = openEnvelope(sk, env, ctx, envelopePublicKey(randomEnvelopeSecretKey()));
      assert.ok(!wrong.ok && wrong.reason.length > 0);
    }
  });

  it('parse names what is wrong: length, magic, version, ephemeral key', () => {
    const env = hexToBytes(vectors.envelopes[0]!.envelope);
    const reason = (b: Uint8Array) => { const r = parseEnvelope(b); return r.ok ? 'ok' : r.reason; };
    assert.match(reason(env.subarray(0, 100)), /110 bytes, not 100/);
    assert.match(reason(concatBytes(Uint8Array.of(0x58), env.subarray(1))), /magic/);
    assert.match(reason(concatBytes(env.subarray(0, 4), Uint8Array.of(2), env.subarray(5))), /version 2 is not supported/);
    assert.match(reason(concatBytes(env.subarray(0, 5), new Uint8Array(33).fill(0xff), env.subarray(38))), /ephemeral key is not a point/);
    assert.equal(reason(env), 'ok');
  });

  it('recipient keys: secp256k1 compressed or uncompressed; X25519 and junk refused with a reason', () => {
    const pub = envelopePublicKey(randomEnvelopeSecretKey());
    const r = envelopeRecipientKey(pub);
    assert.ok(r.ok);
    assert.deepEqual(r.value, pub);
    const x25519 = envelopeRecipientKey(new Uint8Array(32).fill(7));
    assert.ok(!x25519.ok && /X25519/.test(x25519.reason));
    const junk = envelopeRecipientKey(new Uint8Array(33).fill(0xff));
    assert.ok(!junk.ok && /not a point/.test(junk.reason));
    assert.throws(() => sealEnvelope(new Uint8Array(32), new Uint8Array(32), { patientId: 'p', stream: 'hr', epoch: 1 }), /X25519/);
    assert.throws(() => sealEnvelope(pub, new Uint8Array(16), { patientId: 'p', stream: 'hr', epoch: 1 }), /32 bytes/);
  });

  it('property: seal then open gives the key back; each envelope is fresh (random ephemeral key and nonce)', () => {
    const streams: StreamName[] = ['ecg', 'ppg', 'hr', 'spo2', 'temp', 'bp'];
    fc.assert(fc.property(
      fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.constantFrom(...streams), fc.nat(0xffffffff), fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,20}$/),
      (dk, stream, epoch, patientId) => {
        const sk = randomEnvelopeSecretKey();
        const ctx = { patientId, stream, epoch };
        const a = sealEnvelope(envelopePublicKey(sk), dk, ctx);
        const b = sealEnvelope(envelopePublicKey(sk), dk, ctx);
        assert.notDeepEqual(a, b);
        const opened = openEnvelope(sk, a, ctx);
        assert.ok(opened.ok);
        assert.deepEqual(opened.value, dk);
      }), { numRuns: 60 });
  });

  it('property: random bytes and random secret keys never throw', () => {
    const ctx: EnvelopeContext = { patientId: 'p', stream: 'hr', epoch: 1 };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 40 }), (bytes, sk) => {
      const env = bytes.length >= 5 ? concatBytes(Uint8Array.of(0x56, 0x47, 0x4b, 0x45, 1), bytes).subarray(0, ENVELOPE_BYTES) : bytes;
      assert.equal(openEnvelope(sk, env, ctx).ok, false);
    }), { numRuns: 300 });
  });
});
