import assert from 'node:assert/strict';
import { createECDH, hkdfSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { bytesToHex, concatBytes, hexToBytes } from '@noble/hashes/utils.js';
import {
  ENVELOPE_BYTES, EnvelopeOpener, EnvelopeSealer, SHARED_EPHEMERAL_DEFAULT_MS, envelopePublicKey, envelopeRecipientKey, epochKeyInfo, openEnvelope, parseEnvelope, randomEnvelopeSecretKey,
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

describe('key envelopes sharing an ephemeral key (EnvelopeSealer, EnvelopeOpener)', () => {
  const eph = (env: Uint8Array) => bytesToHex(env.subarray(5, 38));
  const nonce = (env: Uint8Array) => bytesToHex(env.subarray(38, 62));

  it('one E per recipient within the window, a fresh one after it or for another recipient; nonces never repeat', () => {
    let now = 1_000_000;
    const sealer = new EnvelopeSealer({ windowMs: 60_000, now: () => now });
    const [a, b] = [randomEnvelopeSecretKey(), randomEnvelopeSecretKey()];
    const dk = new Uint8Array(32).fill(9);
    const toA = Array.from({ length: 20 }, (_, i) => sealer.seal(envelopePublicKey(a), dk, { patientId: 'p', stream: 'hr', epoch: i }));
    assert.equal(new Set(toA.map(eph)).size, 1, 'one E for one recipient in one window');
    assert.equal(new Set(toA.map(nonce)).size, 20, 'each envelope its own nonce');
    const toB = sealer.seal(envelopePublicKey(b), dk, { patientId: 'p', stream: 'hr', epoch: 0 });
    assert.notEqual(eph(toB), eph(toA[0]!), 'another recipient, another E');
    now += 60_000;
    const later = sealer.seal(envelopePublicKey(a), dk, { patientId: 'p', stream: 'hr', epoch: 99 });
    assert.notEqual(eph(later), eph(toA[0]!), 'a new window, a new E');
    now -= 120_000;
    assert.notEqual(eph(sealer.seal(envelopePublicKey(a), dk, { patientId: 'p', stream: 'hr', epoch: 98 })), eph(later), 'a clock that steps back starts a new E');
    sealer.clear();
    assert.equal(SHARED_EPHEMERAL_DEFAULT_MS, 86_400_000);
  });

  it('an opener opens shared-E envelopes with one ECDH, and still refuses another context, a tamper or another recipient', () => {
    const sk = randomEnvelopeSecretKey();
    const sealer = new EnvelopeSealer();
    const ctx = (epoch: number): EnvelopeContext => ({ patientId: 'p-share', stream: 'spo2', epoch });
    const dks = Array.from({ length: 50 }, (_, i) => new Uint8Array(32).fill(i + 1));
    const envs = dks.map((dk, i) => sealer.seal(envelopePublicKey(sk), dk, ctx(i)));
    const opener = new EnvelopeOpener(sk);
    envs.forEach((env, i) => {
      const r = opener.open(env, ctx(i));
      assert.ok(r.ok, r.ok ? '' : r.reason);
      assert.deepEqual(r.value, dks[i]);
      assert.deepEqual(openEnvelope(sk, env, ctx(i)).ok, true, 'the stateless opener agrees');
    });
    assert.equal(opener.ecdhCount, 1, '50 envelopes, one ECDH');
    const swapped = opener.open(envs[3]!, ctx(4));
    assert.ok(!swapped.ok && /does not open/.test(swapped.reason), 'an envelope cannot be passed off as another epoch\'s under a shared K');
    const t = Uint8Array.from(envs[5]!);
    t[80] = t[80]! ^ 1;
    assert.equal(opener.open(t, ctx(5)).ok, false, 'tampered');
    assert.equal(new EnvelopeOpener(randomEnvelopeSecretKey()).open(envs[0]!, ctx(0)).ok, false, 'another recipient');
    const fresh = sealEnvelope(envelopePublicKey(sk), dks[0]!, ctx(0));
    const f = opener.open(fresh, ctx(0));
    assert.ok(f.ok);
    assert.deepEqual(f.value, dks[0]);
    assert.ok(opener.open(fresh, ctx(0)).ok);
    assert.equal(opener.ecdhCount, 2, 'a fresh E costs one more, once');
  });

  it('property: an opener never throws, on random bytes, a random E or a bad secret key', () => {
    const ctx: EnvelopeContext = { patientId: 'p', stream: 'hr', epoch: 1 };
    const opener = new EnvelopeOpener(randomEnvelopeSecretKey());
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 40 }), (bytes, sk) => {
      const env = bytes.length >= 5 ? concatBytes(Uint8Array.of(0x56, 0x47, 0x4b, 0x45, 1), bytes).subarray(0, ENVELOPE_BYTES) : bytes;
      assert.equal(opener.open(env, ctx).ok, false);
      assert.equal(new EnvelopeOpener(sk).open(env, ctx).ok, false);
    }), { numRuns: 300 });
  });
});
