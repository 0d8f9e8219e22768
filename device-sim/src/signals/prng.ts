/**
 * Seeded randomness for the signal models.
 *
 * Simulations must replay bit for bit from a seed (tests, bug reports, comparing a gateway run
 * against its inputs), so nothing here touches Math.random. mulberry32 is used because its whole
 * state is one 32-bit word: thousands of simulated bodies each carry several streams, and the
 * period (2^32) is far longer than any stream draws. It is not cryptographic and must never be
 * used for keys.
 */

/** murmur3's finaliser: spreads every input bit over the output so nearby seeds give unrelated streams. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** FNV-1a, only to turn a stream label into salt; labels are short constants. */
function hashLabel(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Any finite number is accepted as a seed (callers use device indices, hashes, timestamps);
 * both 32-bit halves of its integer part count, so seeds 1 and 2^32 + 1 differ.
 */
export function seedToUint32(seed: number): number {
  if (!Number.isFinite(seed)) throw new RangeError(`seed must be a finite number, got ${seed}`);
  const n = Math.trunc(seed);
  const lo = n >>> 0;
  const hi = Math.floor(n / 4294967296) >>> 0;
  return fmix32(lo ^ fmix32(hi ^ 0x9e3779b9));
}

export class Prng {
  private state: number;
  // Box–Muller yields two independent normals per pair of uniforms; keeping the second halves the cost.
  private spare: number | undefined;

  /**
   * `label` selects an independent stream for the same seed, so one model can draw more
   * parameters in a later version without shifting every other model's values.
   */
  constructor(seed: number, label = '') {
    this.state = fmix32(seedToUint32(seed) ^ hashLabel(label));
  }

  uint32(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** In [0, 1). */
  uniform(): number {
    return this.uint32() / 4294967296;
  }

  /** In [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.uniform();
  }

  /** Standard normal. */
  gaussian(): number {
    const spare = this.spare;
    if (spare !== undefined) {
      this.spare = undefined;
      return spare;
    }
    let u = this.uniform();
    while (u === 0) u = this.uniform(); // log(0) would give an infinite sample
    const r = Math.sqrt(-2 * Math.log(u));
    const a = 2 * Math.PI * this.uniform();
    this.spare = r * Math.sin(a);
    return r * Math.cos(a);
  }
}
