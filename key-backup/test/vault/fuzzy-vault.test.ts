import assert from 'node:assert/strict';
import { randomBytes, bytesToHex } from '@noble/hashes/utils.js';
import fc from 'fast-check';
import {
  DEFAULT_VAULT_PARAMS,
  VaultFormatError,
  VaultLockError,
  featuresFromBeats,
  isGenuinePoint,
  lockSecret,
  lockSecretWithBeats,
  log2Binomial,
  parseVault,
  securityBits,
  serializeVault,
  unlockVault,
  unlockVaultDetailed,
  unlockVaultWithBeats,
  vaultMatchesSecret,
  vaultSecurity,
  zeroGuessResistance,
  type FuzzyVault,
} from '../../src/index.js';

/** Seeded test data (not security-relevant): mulberry32 + Box–Muller. */
function prng(seed: number): { next: () => number; gauss: () => number } {
  let s = seed >>> 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const gauss = (): number => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  return { next, gauss };
}

/** n residuals (ms) with the spread of a healthy resting heart (SD ≈ 40 ms). */
function residuals(seed: number, n = 96, sd = 40): number[] {
  const r = prng(seed);
  return Array.from({ length: n }, () => sd * r.gauss());
}

/** Beat times (s) of one body for `seconds`: HRV from respiration (~0.27 Hz) and Mayer waves (~0.093 Hz), plus beat-to-beat noise. */
function body(seed: number, seconds: number, meanRrMs = 850): number[] {
  const r = prng(seed);
  const phase1 = 2 * Math.PI * r.next();
  const phase2 = 2 * Math.PI * r.next();
  const out: number[] = [];
  let t = r.next();
  while (t < seconds) {
    out.push(t);
    const rr = meanRrMs + 35 * Math.sin(2 * Math.PI * 0.27 * t + phase1) + 25 * Math.sin(2 * Math.PI * 0.093 * t + phase2) + 15 * r.gauss();
    t += rr / 1000;
  }
  return out;
}

/** What one sensor sees of a body: a constant delay plus per-beat fiducial jitter (ms). */
function sensor(beats: number[], seed: number, delayS: number, jitterMs: number): number[] {
  const r = prng(seed);
  return beats.map((t) => t + delayS + (jitterMs * r.gauss()) / 1000);
}

const P = DEFAULT_VAULT_PARAMS;
const K = P.degree + 1;

describe('BSN fuzzy vault', () => {
  const secret = randomBytes(32);
  const genuine = residuals(1);
  let vault: FuzzyVault;
  before(() => {
    vault = lockSecret(secret, { residualsMs: genuine });
  });

  it('opens with the same features, with small noise, and with the ordinals shifted by up to 2', () => {
    assert.deepEqual(unlockVault(vault, { residualsMs: genuine }), secret);
    const r = prng(2);
    const noisy = genuine.map((v) => v + 2 * r.gauss());
    assert.deepEqual(unlockVault(vault, { residualsMs: noisy }), secret);
    for (const shift of [1, 2]) {
      const r1 = unlockVaultDetailed(vault, { residualsMs: [...Array<number>(shift).fill(0), ...noisy] });
      assert.deepEqual(r1.secret, secret);
      assert.equal(r1.shift, shift);
      const r2 = unlockVaultDetailed(vault, { residualsMs: noisy.slice(shift) });
      assert.deepEqual(r2.secret, secret);
      assert.equal(r2.shift, -shift);
    }
    assert.equal(unlockVault(vault, { residualsMs: [0, 0, 0, ...noisy] }), null, 'shift 3 is beyond the default search');
    assert.deepEqual(unlockVault(vault, { residualsMs: [0, 0, 0, ...noisy] }, { maxShift: 3 }), secret);
  });

  it('round-trips a random secret for random features (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.integer({ min: 1, max: 1e9 }), fc.integer({ min: K + 4, max: 128 }), (s, seed, n) => {
        const feats = residuals(seed, n);
        const v = lockSecret(s, { residualsMs: feats }, {}, { minGuessBits: 0 });
        assert.deepEqual(unlockVault(v, { residualsMs: feats }), s);
        assert.ok(vaultMatchesSecret(v, s));
      }),
      { numRuns: 25 },
    );
  });

  it('tolerates wrong slots up to the Reed–Solomon radius, and more when the rest are exact', () => {
    const n = genuine.length;
    const t = Math.floor((n - K) / 2);
    // t slots off by a whole tooth (they land exactly on chaff): RS corrects them
    const off = genuine.map((v, i) => (i % 3 === 0 && i / 3 < t ? v + P.spacing * P.resolutionMs : v));
    assert.deepEqual(unlockVault(vault, { residualsMs: off }), secret);
    // beyond the radius: n − k − 1 slots nearer a chaff tooth than their own, but farther from it
    // than the exact ones are from theirs; the decoder trusts the nearest first and drops them
    const worse = genuine.map((v, i) => (i < n - K ? v + 0.55 * P.spacing * P.resolutionMs : v));
    assert.deepEqual(unlockVault(vault, { residualsMs: worse }), secret);
  });

  it('stays shut for another body and for fewer than degree + 1 genuine features', () => {
    assert.equal(unlockVault(vault, { residualsMs: residuals(99) }), null);
    assert.equal(unlockVault(vault, { residualsMs: [] }), null);
    assert.equal(unlockVault(vault, { residualsMs: genuine.slice(0, K - 1) }), null);
    // K − 1 exact genuine features, every other slot exactly on a chaff tooth: indistinguishable by distance
    const wrong = genuine.map((v, i) => (i < K - 1 ? v : v + P.spacing * P.resolutionMs * (i % 2 ? 1 : -1)));
    assert.equal(unlockVault(vault, { residualsMs: wrong }, { maxShift: 0, maxDecodes: 2000 }), null);
  });

  it('with exactly degree + 1 genuine points the vault opens (Juels–Sudan threshold)', () => {
    const v = lockSecret(secret, { residualsMs: genuine.slice(0, K) }, {}, { minGuessBits: 0 });
    assert.deepEqual(unlockVault(v, { residualsMs: genuine.slice(0, K) }), secret);
    const oneWrong = genuine.slice(0, K).map((x, i) => (i === 5 ? x + P.spacing : x));
    assert.equal(unlockVault(v, { residualsMs: oneWrong }), null);
  });

  it('chaff: one comb per slot, no duplicate x, exactly one genuine point per slot, shuffled', () => {
    const xs = new Set(vault.xs);
    assert.equal(xs.size, vault.xs.length);
    const slots = new Map<number, number[]>();
    const genuineIdx: number[] = [];
    for (let i = 0; i < vault.xs.length; i++) {
      const slot = vault.xs[i]! >>> P.valueBits;
      slots.set(slot, [...(slots.get(slot) ?? []), vault.xs[i]! & ((1 << P.valueBits) - 1)]);
      if (isGenuinePoint(vault, secret, i)) genuineIdx.push(i);
    }
    assert.equal(slots.size, genuine.length);
    assert.equal(genuineIdx.length, genuine.length);
    for (const values of slots.values()) {
      values.sort((a, b) => a - b);
      assert.ok(values[0]! < P.spacing);
      values.forEach((v, j) => assert.equal(v, values[0]! + j * P.spacing));
      assert.equal(values[values.length - 1]! + P.spacing > (1 << P.valueBits) - 1, true);
    }
    // the genuine points are spread over the whole list, not at its start or in slot order
    assert.ok(genuineIdx[genuineIdx.length - 1]! > vault.xs.length / 2);
    assert.ok(genuineIdx[0]! < vault.xs.length / 2);
    const order = [...vault.xs];
    assert.notDeepEqual(order, [...order].sort((a, b) => a - b));
    // two locks of the same secret and features share no salt, hash or point order
    const again = lockSecret(secret, { residualsMs: genuine });
    assert.notDeepEqual(again.salt, vault.salt);
    assert.notDeepEqual(again.secretHash, vault.secretHash);
    assert.notDeepEqual([...again.xs], [...vault.xs]);
  });

  it('chaff y values are uniform-looking: about half their bits set, never on the polynomial', () => {
    let ones = 0;
    let chaff = 0;
    for (let i = 0; i < vault.xs.length; i++) {
      if (isGenuinePoint(vault, secret, i)) continue;
      chaff++;
      let y = vault.ys[i]!;
      while (y) {
        ones += y & 1;
        y >>>= 1;
      }
    }
    const mean = ones / (16 * chaff);
    assert.ok(Math.abs(mean - 0.5) < 0.02, `bit mean ${mean}`);
  });

  it('serialises to public JSON with no secret material in the clear, and parses back', () => {
    const json = serializeVault(vault);
    assert.ok(!json.includes(bytesToHex(secret)));
    assert.ok(!json.includes(Buffer.from(secret).toString('base64')));
    const doc = JSON.parse(json) as Record<string, unknown>;
    assert.equal(doc.format, 'vitalgate/bsn-fuzzy-vault');
    assert.equal(doc.version, 1);
    assert.equal(doc.field, 'GF(2^16)/0x1100b');
    const back = parseVault(json);
    assert.deepEqual(back.xs, vault.xs);
    assert.deepEqual(back.ys, vault.ys);
    assert.deepEqual(back.params, vault.params);
    assert.deepEqual(unlockVault(back, { residualsMs: genuine }), secret);
    assert.equal(serializeVault(back), json);
  });

  it('a corrupted, truncated or tampered vault gives VaultFormatError or null, never a wrong secret', () => {
    const json = serializeVault(vault);
    const bad = (text: string) => assert.throws(() => parseVault(text), VaultFormatError);
    bad('');
    bad('not json');
    bad('[]');
    bad(json.slice(0, json.length - 1));
    bad(json.slice(0, Math.floor(json.length / 2)));
    const doc = JSON.parse(json) as Record<string, unknown>;
    const edit = (patch: Record<string, unknown>) => JSON.stringify({ ...doc, ...patch });
    bad(edit({ version: 2 }));
    bad(edit({ format: 'something-else' }));
    bad(edit({ field: 'GF(2^8)' }));
    bad(edit({ extra: 1 }));
    bad(edit({ salt: 'zz' }));
    bad(edit({ secretHash: (doc.secretHash as string).slice(2) }));
    bad(edit({ points: (doc.points as string).slice(0, -3) }));
    bad(edit({ points: (doc.points as string).slice(0, -8 * 900) })); // whole slots missing
    bad(edit({ params: { ...(doc.params as object), degree: 3 } }));
    bad(edit({ params: { ...(doc.params as object), spacing: 13 } }));
    bad(edit({ params: { ...(doc.params as object), slotBits: P.slotBits - 1 } }));
    bad(edit({ secretBytes: 31 }));
    bad(edit({ meta: { a: 1 } }));
    // a duplicate point
    const pts = doc.points as string;
    bad(edit({ points: pts.slice(0, 8) + pts.slice(0, pts.length - 8) }));
    // tampered y values or hash: parse fine, never unlock to anything but the secret
    const flipY = (i: number) => pts.slice(0, 8 * i + 4) + ((Number.parseInt(pts.slice(8 * i + 4, 8 * i + 8), 16) ^ 0x5a5a) >>> 0).toString(16).padStart(4, '0') + pts.slice(8 * i + 8);
    let all = pts;
    for (let i = 0; i < vault.xs.length; i++) {
      if (isGenuinePoint(vault, secret, i)) all = all.slice(0, 8 * i + 4) + ((vault.ys[i]! ^ 0x5a5a) >>> 0).toString(16).padStart(4, '0') + all.slice(8 * i + 8);
    }
    assert.equal(unlockVault(parseVault(edit({ points: all })), { residualsMs: genuine }), null);
    assert.deepEqual(unlockVault(parseVault(edit({ points: flipY(3) })), { residualsMs: genuine }), secret);
    const hash = doc.secretHash as string;
    assert.equal(unlockVault(parseVault(edit({ secretHash: (hash[0] === 'a' ? 'b' : 'a') + hash.slice(1) })), { residualsMs: genuine }), null);
    assert.equal(unlockVault(parseVault(edit({ salt: '00'.repeat(16) })), { residualsMs: genuine }), null);
  });

  it('random single-character corruption never crashes and never yields a wrong secret (property)', () => {
    const json = serializeVault(vault);
    const alphabet = '0123456789abcdef{}[]":,-. xyzAZ';
    fc.assert(
      fc.property(fc.integer({ min: 0, max: json.length - 1 }), fc.integer({ min: 0, max: alphabet.length - 1 }), fc.boolean(), (pos, ch, drop) => {
        const text = drop ? json.slice(0, pos) + json.slice(pos + 1) : json.slice(0, pos) + alphabet[ch]! + json.slice(pos + 1);
        let v: FuzzyVault;
        try {
          v = parseVault(text);
        } catch (e) {
          assert.ok(e instanceof VaultFormatError, `unexpected ${(e as Error).name}: ${(e as Error).message}`);
          return;
        }
        const got = unlockVault(v, { residualsMs: genuine });
        assert.ok(got === null || bytesToHex(got) === bytesToHex(secret));
      }),
      { numRuns: 300 },
    );
  });

  it('refuses to lock too few features, a bad secret, bad parameters, or features too predictable', () => {
    const code = (fn: () => unknown, c: string) =>
      assert.throws(fn, (e: unknown) => e instanceof VaultLockError && e.code === c, `expected VaultLockError ${c}`);
    code(() => lockSecret(secret, { residualsMs: genuine.slice(0, K - 1) }), 'too-few-features');
    code(() => lockSecret(randomBytes(31), { residualsMs: genuine }), 'bad-secret');
    code(() => lockSecret(secret, { residualsMs: genuine }, { degree: 10 }), 'bad-params');
    code(() => lockSecret(secret, { residualsMs: genuine }, { spacing: 1 }), 'bad-params');
    code(() => lockSecret(secret, { residualsMs: genuine }, { slotBits: 5 }), 'bad-params');
    // no heart-rate variability at all: "guess 0 everywhere" would open it at once
    const flat = new Array<number>(96).fill(0);
    code(() => lockSecret(secret, { residualsMs: flat }), 'weak-features');
    const weakVault = lockSecret(secret, { residualsMs: flat }, {}, { minGuessBits: 0 });
    assert.deepEqual(unlockVault(weakVault, { residualsMs: flat }), secret, 'what the gate protects against');
    assert.equal(zeroGuessResistance({ residualsMs: flat }).zeroGuessBits, 0);
    assert.equal(zeroGuessResistance({ residualsMs: genuine }).zeroGuessBits, Number.POSITIVE_INFINITY);
  });

  it('computes brute-force security from secret length, features, degree and chaff', () => {
    assert.ok(Math.abs(log2Binomial(10, 3) - Math.log2(120)) < 1e-9);
    assert.ok(Math.abs(log2Binomial(65536, 2) - Math.log2((65536 * 65535) / 2)) < 1e-9);
    const s = securityBits({ secretBytes: 32, genuine: 64, chaff: 64 * 20, degree: 32 });
    assert.ok(Math.abs(s.bruteForceBits - (log2Binomial(64 * 21, 33) - log2Binomial(64, 33))) < 1e-9);
    assert.ok(Math.abs(s.slotGuessBits - 33 * Math.log2(21)) < 1e-9);
    assert.equal(s.securityBits, Math.min(256, s.bruteForceBits, s.slotGuessBits));
    const v = vaultSecurity(vault);
    assert.equal(v.genuine, 96);
    assert.equal(v.genuine + v.chaff, vault.xs.length);
    assert.ok(v.securityBits > 200 && v.securityBits <= 256, `${v.securityBits}`);
  });

  it('locks from one sensor and opens from another over the same window; not from another window or body', () => {
    const beats = body(7, 400);
    const chest = sensor(beats, 70, 0, 1.5); // ECG lead: ~1.5 ms fiducial jitter
    const wrist = sensor(beats, 71, 0.03, 1.5); // another lead, a small constant offset
    const window = { startSeconds: 120, seconds: 90 };
    const v = lockSecretWithBeats(secret, chest, window, {}, { meta: { patient: 'p-1', sensor: 'chest' } });
    assert.deepEqual(v.window, window);
    assert.deepEqual(parseVault(serializeVault(v)).meta, { patient: 'p-1', sensor: 'chest' });
    assert.deepEqual(unlockVaultWithBeats(v, wrist), secret);
    // the same sensor a few minutes later: IPIs are not time-invariant
    const later = chest.map((t) => t - 173);
    assert.equal(unlockVaultWithBeats(v, later), null);
    // someone else
    assert.equal(unlockVaultWithBeats(v, sensor(body(8, 400), 72, 0, 1.5)), null);
    // a vault with no window cannot be opened from raw beats
    const noWindow = lockSecret(secret, featuresFromBeats(chest, window));
    assert.equal(noWindow.window?.seconds, 90);
    assert.throws(() => unlockVaultWithBeats({ ...noWindow, window: null }, wrist), VaultFormatError);
  });

  it('survives a missed beat on the unlocking sensor (artefact correction keeps the ordinals)', () => {
    const beats = body(11, 200);
    const a = sensor(beats, 1, 0, 1);
    const b = sensor(beats, 2, 0, 1).filter((_, i) => i !== 80 && i !== 95);
    const window = { startSeconds: 60, seconds: 90 };
    const fb = featuresFromBeats(b, window);
    assert.equal(fb.corrected, 2);
    const v = lockSecretWithBeats(secret, a, window);
    assert.deepEqual(unlockVaultWithBeats(v, b), secret);
  });
});
