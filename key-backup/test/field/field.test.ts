import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  GF_GENERATOR,
  GF_MODULUS,
  GF_ORDER,
  gfAdd,
  gfDiv,
  gfExp,
  gfInv,
  gfLog,
  gfMul,
  gfMulSlow,
  gfOrder,
  gfPow,
} from '../../src/field/gf65536.js';
import {
  lagrangeInterpolate,
  polyDivMod,
  polyEval,
  polyFromRoots,
  polyMul,
  polyAdd,
  rsDecode,
} from '../../src/field/polynomial.js';

const elem = fc.integer({ min: 0, max: 0xffff });
const nonzero = fc.integer({ min: 1, max: 0xffff });

/** x^e mod P by square-and-multiply with the table-free multiplication. */
function slowPow(a: number, e: number): number {
  let r = 1;
  let b = a;
  while (e > 0) {
    if (e & 1) r = gfMulSlow(r, b);
    b = gfMulSlow(b, b);
    e = Math.floor(e / 2);
  }
  return r;
}

describe('GF(2^16)', () => {
  it('the modulus x^16 + x^12 + x^3 + x + 1 is primitive (checked without the tables)', () => {
    assert.equal(GF_MODULUS, 0x1100b);
    // x has order exactly 65535 = 3·5·17·257 in GF(2)[x]/P: x^65535 = 1 and x^(65535/p) ≠ 1 for
    // each prime p. A reducible P would have fewer than 65535 units, so this also proves P irreducible.
    assert.equal(slowPow(2, 65535), 1);
    for (const p of [3, 5, 17, 257]) assert.notEqual(slowPow(2, 65535 / p), 1, `x^(65535/${p}) must not be 1`);
  });

  it('the generator has order 65535 and its powers are every non-zero element once', () => {
    assert.equal(gfOrder(GF_GENERATOR), GF_ORDER);
    const seen = new Set<number>();
    for (let e = 0; e < GF_ORDER; e++) seen.add(gfExp(e));
    assert.equal(seen.size, GF_ORDER);
    assert.ok(!seen.has(0));
    assert.equal(gfExp(GF_ORDER), 1);
  });

  it('has φ(65535) = 32768 generators', () => {
    let generators = 0;
    for (let a = 1; a <= 0xffff; a++) if (gfOrder(a) === GF_ORDER) generators++;
    assert.equal(generators, 32768);
  });

  it('addition: associative, commutative, 0 is neutral, every element is its own negative', () => {
    fc.assert(
      fc.property(elem, elem, elem, (a, b, c) => {
        assert.equal(gfAdd(gfAdd(a, b), c), gfAdd(a, gfAdd(b, c)));
        assert.equal(gfAdd(a, b), gfAdd(b, a));
        assert.equal(gfAdd(a, 0), a);
        assert.equal(gfAdd(a, a), 0);
      }),
      { numRuns: 2000 },
    );
  });

  it('multiplication: associative, commutative, 1 neutral, 0 absorbing, equal to the carry-less definition', () => {
    fc.assert(
      fc.property(elem, elem, elem, (a, b, c) => {
        assert.equal(gfMul(gfMul(a, b), c), gfMul(a, gfMul(b, c)));
        assert.equal(gfMul(a, b), gfMul(b, a));
        assert.equal(gfMul(a, 1), a);
        assert.equal(gfMul(a, 0), 0);
        assert.equal(gfMul(a, b), gfMulSlow(a, b));
      }),
      { numRuns: 2000 },
    );
  });

  it('distributive law', () => {
    fc.assert(
      fc.property(elem, elem, elem, (a, b, c) => {
        assert.equal(gfMul(a, gfAdd(b, c)), gfAdd(gfMul(a, b), gfMul(a, c)));
      }),
      { numRuns: 2000 },
    );
  });

  it('inverses, division, powers and logs agree', () => {
    fc.assert(
      fc.property(nonzero, nonzero, fc.integer({ min: -200000, max: 200000 }), (a, b, e) => {
        assert.equal(gfMul(a, gfInv(a)), 1);
        assert.equal(gfMul(gfDiv(a, b), b), a);
        assert.equal(gfPow(a, GF_ORDER), 1);
        assert.equal(gfMul(gfPow(a, e), gfPow(a, -e)), 1);
        assert.equal(gfPow(a, e + 1), gfMul(gfPow(a, e), a));
        assert.equal(gfExp(gfLog(a)), a);
        // Frobenius: squaring is additive in characteristic 2
        assert.equal(gfPow(gfAdd(a, b), 2), gfAdd(gfPow(a, 2), gfPow(b, 2)));
      }),
      { numRuns: 2000 },
    );
  });

  it('rejects 0 where it has no meaning and values outside the field', () => {
    assert.throws(() => gfInv(0), RangeError);
    assert.throws(() => gfDiv(5, 0), RangeError);
    assert.throws(() => gfLog(0), RangeError);
    assert.throws(() => gfPow(0, -1), RangeError);
    assert.equal(gfPow(0, 0), 1);
    assert.throws(() => gfMul(65536, 1), RangeError);
    assert.throws(() => gfAdd(-1, 1), RangeError);
    assert.throws(() => gfMul(1.5, 1), RangeError);
  });
});

describe('polynomials over GF(2^16)', () => {
  const distinctXs = (n: number) => fc.uniqueArray(elem, { minLength: n, maxLength: n });

  it('Lagrange interpolation recovers a polynomial from deg + 1 of its points', () => {
    fc.assert(
      fc.property(fc.array(elem, { minLength: 1, maxLength: 20 }), fc.uniqueArray(elem, { minLength: 20, maxLength: 40 }), (coeffs, xs) => {
        const p = [...coeffs];
        while (p.length && p[p.length - 1] === 0) p.pop();
        const pts = xs.slice(0, Math.max(1, p.length));
        const got = lagrangeInterpolate(pts, pts.map((x) => polyEval(p, x)));
        assert.deepEqual(got, p);
      }),
      { numRuns: 200 },
    );
  });

  it('division: a = q·b + r with deg r < deg b', () => {
    fc.assert(
      fc.property(fc.array(elem, { maxLength: 30 }), fc.array(elem, { minLength: 1, maxLength: 12 }), (a, b) => {
        const bt = [...b];
        while (bt.length && bt[bt.length - 1] === 0) bt.pop();
        fc.pre(bt.length > 0);
        const { q, r } = polyDivMod(a, bt);
        const at = [...a];
        while (at.length && at[at.length - 1] === 0) at.pop();
        assert.deepEqual(polyAdd(polyMul(q, bt), r), at);
        assert.ok(r.length < bt.length);
      }),
      { numRuns: 300 },
    );
  });

  it('polyFromRoots vanishes exactly at its roots', () => {
    fc.assert(
      fc.property(distinctXs(12), elem, (roots, x) => {
        const m = polyFromRoots(roots);
        assert.equal(m.length, roots.length + 1);
        for (const r of roots) assert.equal(polyEval(m, r), 0);
        if (!roots.includes(x)) assert.notEqual(polyEval(m, x), 0);
      }),
      { numRuns: 200 },
    );
  });

  it('Reed–Solomon (Gao) corrects up to ⌊(n − k)/2⌋ wrong points', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 17 }),
        fc.integer({ min: 0, max: 30 }),
        fc.uniqueArray(elem, { minLength: 60, maxLength: 60 }),
        fc.array(elem, { minLength: 17, maxLength: 17 }),
        fc.array(nonzero, { minLength: 60, maxLength: 60 }),
        (k, extra, xsAll, coeffsAll, noise) => {
          const n = k + extra;
          const xs = xsAll.slice(0, n);
          const f = coeffsAll.slice(0, k);
          while (f.length && f[f.length - 1] === 0) f.pop();
          const ys = xs.map((x) => polyEval(f, x));
          const t = Math.floor((n - k) / 2);
          for (let i = 0; i < t; i++) ys[(i * 7) % n] = ys[(i * 7) % n]! ^ noise[i]!; // distinct positions: 7 ⟂ n unless n | 7
          const wrong = new Set(Array.from({ length: t }, (_, i) => (i * 7) % n)).size;
          fc.pre(wrong === t);
          assert.deepEqual(rsDecode(xs, ys, k), f);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('Reed–Solomon never returns a polynomial outside its decoding radius', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 17 }), fc.uniqueArray(elem, { minLength: 40, maxLength: 40 }), fc.array(elem, { minLength: 40, maxLength: 40 }), (k, xs, ys) => {
        const f = rsDecode(xs, ys, k);
        if (f === null) return;
        assert.ok(f.length <= k);
        const agree = xs.filter((x, i) => polyEval(f, x) === ys[i]).length;
        assert.ok(2 * agree >= xs.length + k);
      }),
      { numRuns: 200 },
    );
  });

  it('rejects duplicate x and out-of-field values', () => {
    assert.throws(() => lagrangeInterpolate([1, 1], [2, 3]), RangeError);
    assert.throws(() => lagrangeInterpolate([1, 70000], [2, 3]), RangeError);
    assert.throws(() => rsDecode([1, 2], [3], 1), RangeError);
    assert.equal(rsDecode([1, 2], [3, 4], 3), null);
  });
});
