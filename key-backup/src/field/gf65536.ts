/**
 * The finite field GF(2^16), the alphabet of the BSN fuzzy vault.
 *
 * Elements are the integers 0…65535, read as polynomials over GF(2) of degree < 16 (bit i is the
 * coefficient of x^i). Addition is XOR. Multiplication is polynomial multiplication reduced modulo
 *
 *   P(x) = x^16 + x^12 + x^3 + x + 1        (0x1100B)
 *
 * P is primitive: x (the element 2) generates the whole multiplicative group of order 65535. So
 * every non-zero element is 2^e for exactly one e in 0…65534, and multiplication, inversion and
 * powers become additions of exponents through a log table and an antilog (exp) table. The tables
 * are built once at import (about 0.4 ms); building them also proves primitivity, because the walk
 * 2^0, 2^1, … must meet every non-zero element before it returns to 1. A non-primitive modulus
 * throws here instead of silently giving a field with zero divisors.
 *
 * Field elements are exchanged as plain numbers; every entry point checks its arguments are
 * integers in range (a bad element is a programming error, so it throws RangeError).
 */

export const GF_BITS = 16;
export const GF_SIZE = 1 << GF_BITS; // 65536 elements
export const GF_ORDER = GF_SIZE - 1; // 65535: order of the multiplicative group
export const GF_MODULUS = 0x1100b;
/** The generator the tables are built from: the class of x. */
export const GF_GENERATOR = 2;

/** EXP[e] = 2^e for e in 0 … 2·65535 − 1 (doubled so a sum of two logs needs no reduction). */
const EXP = new Uint16Array(2 * GF_ORDER);
/** LOG[a] = e with 2^e = a, for a ≠ 0 (LOG[0] is unused). */
const LOG = new Uint16Array(GF_SIZE);

function buildTables(): void {
  const seen = new Uint8Array(GF_SIZE);
  let a = 1;
  for (let e = 0; e < GF_ORDER; e++) {
    if (seen[a]) throw new Error(`GF(2^16): modulus 0x${GF_MODULUS.toString(16)} is not primitive (x has order ${e})`);
    seen[a] = 1;
    EXP[e] = a;
    EXP[e + GF_ORDER] = a;
    LOG[a] = e;
    a <<= 1;
    if (a & GF_SIZE) a ^= GF_MODULUS;
  }
  if (a !== 1) throw new Error('GF(2^16): generator walk did not return to 1');
}
buildTables();

function check(a: number, name = 'element'): void {
  if (!Number.isInteger(a) || a < 0 || a >= GF_SIZE) throw new RangeError(`GF(2^16) ${name} must be an integer in 0…65535, got ${a}`);
}

export function isGfElement(a: unknown): a is number {
  return typeof a === 'number' && Number.isInteger(a) && a >= 0 && a < GF_SIZE;
}

/** a + b (= a − b: characteristic 2). */
export function gfAdd(a: number, b: number): number {
  check(a);
  check(b);
  return a ^ b;
}

/** a · b via logs. */
export function gfMul(a: number, b: number): number {
  check(a);
  check(b);
  return a === 0 || b === 0 ? 0 : EXP[LOG[a]! + LOG[b]!]!;
}

/** a^-1; throws RangeError for 0, which has no inverse. */
export function gfInv(a: number): number {
  check(a);
  if (a === 0) throw new RangeError('GF(2^16): 0 has no inverse');
  return EXP[GF_ORDER - LOG[a]!]!;
}

/** a / b; throws RangeError when b = 0. */
export function gfDiv(a: number, b: number): number {
  check(a);
  check(b);
  if (b === 0) throw new RangeError('GF(2^16): division by 0');
  return a === 0 ? 0 : EXP[LOG[a]! + GF_ORDER - LOG[b]!]!;
}

/** a^e for any integer e (negative exponents invert; 0^0 = 1, 0^negative throws). */
export function gfPow(a: number, e: number): number {
  check(a);
  if (!Number.isSafeInteger(e)) throw new RangeError(`GF(2^16) exponent must be a safe integer, got ${e}`);
  if (e === 0) return 1;
  if (a === 0) {
    if (e < 0) throw new RangeError('GF(2^16): 0 has no inverse');
    return 0;
  }
  const m = (((LOG[a]! * (e % GF_ORDER)) % GF_ORDER) + GF_ORDER) % GF_ORDER;
  return EXP[m]!;
}

/** 2^e (e reduced mod 65535). */
export function gfExp(e: number): number {
  if (!Number.isSafeInteger(e)) throw new RangeError(`GF(2^16) exponent must be a safe integer, got ${e}`);
  return EXP[((e % GF_ORDER) + GF_ORDER) % GF_ORDER]!;
}

/** The discrete log base 2 of a ≠ 0, in 0…65534. */
export function gfLog(a: number): number {
  check(a);
  if (a === 0) throw new RangeError('GF(2^16): log of 0 is undefined');
  return LOG[a]!;
}

/**
 * Multiplicative order of a ≠ 0: the least e > 0 with a^e = 1. It divides 65535 = 3·5·17·257, so
 * it is found from the divisors instead of by walking.
 */
export function gfOrder(a: number): number {
  check(a);
  if (a === 0) throw new RangeError('GF(2^16): 0 has no multiplicative order');
  let order = GF_ORDER;
  for (const p of [3, 5, 17, 257]) {
    while (order % p === 0 && gfPow(a, order / p) === 1) order /= p;
  }
  return order;
}

/**
 * Carry-less multiply-and-reduce with no tables: the textbook definition, kept as an independent
 * reference the table arithmetic is tested against.
 */
export function gfMulSlow(a: number, b: number): number {
  check(a);
  check(b);
  let r = 0;
  let x = a;
  let y = b;
  while (y) {
    if (y & 1) r ^= x;
    y >>>= 1;
    x <<= 1;
    if (x & GF_SIZE) x ^= GF_MODULUS;
  }
  return r;
}

/**
 * Unchecked internals for the hot loops of polynomial arithmetic (arguments must already be valid
 * field elements). Not re-exported from the package.
 */
export const gfFast = {
  mul(a: number, b: number): number {
    return a === 0 || b === 0 ? 0 : EXP[LOG[a]! + LOG[b]!]!;
  },
  div(a: number, b: number): number {
    if (b === 0) throw new RangeError('GF(2^16): division by 0');
    return a === 0 ? 0 : EXP[LOG[a]! + GF_ORDER - LOG[b]!]!;
  },
  inv(a: number): number {
    if (a === 0) throw new RangeError('GF(2^16): 0 has no inverse');
    return EXP[GF_ORDER - LOG[a]!]!;
  },
  /** The tables themselves, for loops that multiply many values by one constant (read only). */
  EXP: EXP as Readonly<Uint16Array>,
  LOG: LOG as Readonly<Uint16Array>,
};
