/**
 * Polynomials over GF(2^16) for the fuzzy vault: evaluation, Lagrange interpolation, and
 * Reed–Solomon decoding with Gao's algorithm.
 *
 * A polynomial is an array of coefficients, constant term first: [c0, c1, …] is c0 + c1·x + ….
 * Results are trimmed (no trailing zero coefficients); the zero polynomial is []. Degree of [] is −1.
 *
 * Decoding (Gao 2003, "A new algorithm for decoding Reed–Solomon codes"): given n points of which
 * at most (n − K)/2 are wrong, the polynomial f of degree < K through the others is found by
 *   g0 = ∏(x − xᵢ),  g1 = the interpolant of all n points,
 *   run the extended Euclidean algorithm on (g0, g1) until the remainder g has degree < (n + K)/2,
 *   with g = u·g0 + v·g1; then f = g / v if the division is exact and deg f < K.
 * Cost O(n²) field operations: a few hundred microseconds for n ≈ 64. Unlike trying (K)-subsets
 * with Lagrange, the cost does not explode with the number of wrong points; the price is that it
 * needs a majority-like share of right points (n + K)/2 instead of K.
 */
import { GF_SIZE, gfFast } from './gf65536.js';

export type Poly = number[];

const { mul, div, inv, EXP, LOG } = gfFast;

function checkElements(name: string, a: ArrayLike<number>): void {
  for (let i = 0; i < a.length; i++) {
    const v = a[i]!;
    if (!Number.isInteger(v) || v < 0 || v >= GF_SIZE) throw new RangeError(`${name}[${i}] is not a GF(2^16) element: ${v}`);
  }
}

/** Drop trailing zero coefficients (in place) and return the array. */
export function polyTrim(p: Poly): Poly {
  while (p.length && p[p.length - 1] === 0) p.pop();
  return p;
}

/** Degree; −1 for the zero polynomial. Assumes a trimmed polynomial. */
export function polyDegree(p: Poly): number {
  return p.length - 1;
}

/** p(x) by Horner's rule. */
export function polyEval(p: ArrayLike<number>, x: number): number {
  let acc = 0;
  if (x === 0) return p.length ? p[0]! : 0;
  const lx = LOG[x]!;
  for (let i = p.length - 1; i >= 0; i--) acc = (acc === 0 ? 0 : EXP[LOG[acc]! + lx]!) ^ p[i]!;
  return acc;
}

export function polyAdd(a: Poly, b: Poly): Poly {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = (a[i] ?? 0) ^ (b[i] ?? 0);
  return polyTrim(out);
}

export function polyScale(a: Poly, c: number): Poly {
  if (c === 0) return [];
  return a.map((v) => mul(v, c));
}

export function polyMul(a: Poly, b: Poly): Poly {
  if (!a.length || !b.length) return [];
  const out = new Array<number>(a.length + b.length - 1).fill(0);
  for (let i = 0; i < a.length; i++) {
    const ai = a[i]!;
    if (ai === 0) continue;
    const la = LOG[ai]!;
    for (let j = 0; j < b.length; j++) {
      const bj = b[j]!;
      if (bj !== 0) out[i + j]! ^= EXP[la + LOG[bj]!]!;
    }
  }
  return polyTrim(out);
}

/** Long division: a = q·b + r with deg r < deg b. Throws RangeError when b is zero. */
export function polyDivMod(a: Poly, b: Poly): { q: Poly; r: Poly } {
  const bt = polyTrim(b.slice());
  if (!bt.length) throw new RangeError('polynomial division by zero');
  const r = polyTrim(a.slice());
  const db = bt.length - 1;
  if (r.length - 1 < db) return { q: [], r };
  const lead = inv(bt[db]!);
  const q = new Array<number>(r.length - db).fill(0);
  for (let i = r.length - 1; i >= db; i--) {
    const c = r[i]!;
    if (c === 0) continue;
    const f = mul(c, lead);
    q[i - db] = f;
    const lf = LOG[f]!;
    for (let j = 0; j <= db; j++) {
      const bj = bt[j]!;
      if (bj !== 0) r[i - db + j]! ^= EXP[lf + LOG[bj]!]!;
    }
  }
  r.length = db; // everything at or above deg b is now zero
  return { q: polyTrim(q), r: polyTrim(r) };
}

/** ∏ (x − rᵢ). */
export function polyFromRoots(roots: ArrayLike<number>): Poly {
  checkElements('roots', roots);
  const out: number[] = [1];
  for (let i = 0; i < roots.length; i++) {
    const r = roots[i]!;
    // multiply by (x + r): shift up and add r·out
    out.push(0);
    for (let j = out.length - 1; j >= 1; j--) out[j] = out[j - 1]! ^ mul(out[j]!, r);
    out[0] = mul(out[0]!, r);
  }
  return polyTrim(out);
}

function checkPoints(xs: ArrayLike<number>, ys: ArrayLike<number>): void {
  if (xs.length !== ys.length) throw new RangeError(`xs and ys differ in length (${xs.length} vs ${ys.length})`);
  checkElements('xs', xs);
  checkElements('ys', ys);
  const seen = new Set<number>();
  for (let i = 0; i < xs.length; i++) {
    if (seen.has(xs[i]!)) throw new RangeError(`duplicate x ${xs[i]} in interpolation points`);
    seen.add(xs[i]!);
  }
}

/**
 * The unique polynomial of degree < n through n points with distinct x (Lagrange form, O(n²)):
 * with M(x) = ∏(x − xⱼ) and Mᵢ = M / (x − xᵢ), L(x) = Σ yᵢ · Mᵢ(x) / Mᵢ(xᵢ).
 */
export function lagrangeInterpolate(xs: ArrayLike<number>, ys: ArrayLike<number>): Poly {
  checkPoints(xs, ys);
  const n = xs.length;
  if (n === 0) return [];
  const m = polyFromRoots(xs); // degree n, monic
  const out = new Array<number>(n).fill(0);
  const qi = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const yi = ys[i]!;
    if (yi === 0) continue;
    const xi = xs[i]!;
    // synthetic division of M by (x − xi): quotient coefficients from the top down
    let carry = 0;
    if (xi === 0) {
      for (let j = n; j >= 1; j--) qi[j - 1] = carry = m[j]!;
    } else {
      const lx = LOG[xi]!;
      for (let j = n; j >= 1; j--) {
        carry = m[j]! ^ (carry === 0 ? 0 : EXP[LOG[carry]! + lx]!);
        qi[j - 1] = carry;
      }
    }
    const w = div(yi, polyEval(qi, xi));
    const lw = LOG[w]!;
    for (let j = 0; j < n; j++) {
      const q = qi[j]!;
      if (q !== 0) out[j]! ^= EXP[lw + LOG[q]!]!;
    }
  }
  return polyTrim(out);
}

/**
 * Reed–Solomon decoding (Gao): the polynomial f with deg f < k that passes through all but at most
 * ⌊(n − k)/2⌋ of the n points, or null when there is none. With n = k the interpolant is returned
 * (no redundancy: nothing can be corrected or detected; callers must verify the result).
 */
export function rsDecode(xs: ArrayLike<number>, ys: ArrayLike<number>, k: number): Poly | null {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`message length k must be a positive integer, got ${k}`);
  checkPoints(xs, ys);
  const n = xs.length;
  if (n < k) return null;
  const g1 = lagrangeInterpolate(xs, ys);
  if (g1.length <= k) return g1; // all points on one polynomial of degree < k: no errors
  if (n === k) return g1;
  const g0 = polyFromRoots(xs);
  const stop = (n + k) / 2; // stop once deg(remainder) < (n + k)/2
  let rPrev = g0;
  let r = g1;
  let vPrev: Poly = [];
  let v: Poly = [1];
  while (r.length - 1 >= stop) {
    const { q, r: rem } = polyDivMod(rPrev, r);
    rPrev = r;
    r = rem;
    const vNext = polyAdd(vPrev, polyMul(q, v));
    vPrev = v;
    v = vNext;
  }
  if (!v.length) return null;
  const { q: f, r: rest } = polyDivMod(r, v);
  if (rest.length || f.length > k) return null;
  // Gao's output is only guaranteed within the decoding radius; check it is there.
  let agree = 0;
  for (let i = 0; i < n; i++) if (polyEval(f, xs[i]!) === ys[i]!) agree++;
  return 2 * agree >= n + k ? f : null;
}
