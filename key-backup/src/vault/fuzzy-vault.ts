/**
 * A Juels–Sudan fuzzy vault over GF(2^16) that locks a patient master secret (PMS) with the
 * patient's own inter-pulse-interval features (Juels & Sudan 2002; Zhao et al. 2017/2018).
 *
 * Lock (secret S of 2w bytes, features r₀ … r_{n−1} of one window, degree k ≥ w):
 *   1. coefficients c₀ … c_{w−1} are S read as big-endian 16-bit words; c_w … c_k are check words,
 *      HKDF-SHA256(S, salt, "vitalgate/v1/bsn-vault/check"). p(x) = Σ cᵢ xⁱ.
 *   2. genuine points: slot j, quantised residual vⱼ, xⱼ = j ‖ vⱼ (ipi-features.ts), yⱼ = p(xⱼ).
 *   3. chaff points: in every slot, every other point of the lattice vⱼ + m·spacing (m ≠ 0) that
 *      fits in the value range, with a uniformly random y ≠ p(x). So every slot looks the same: a
 *      full comb of points spaced `spacing` apart; only its phase (vⱼ mod spacing) is fixed by the
 *      genuine value: where in its cell the genuine value lies, not which tooth it is. (That
 *      residuals cluster near 0 still favours the teeth near 0: see zeroGuessResistance and the
 *      informed-attacker estimate in docs/key-backup.md.)
 *   4. all points shuffled (Fisher–Yates on a CSPRNG). Beside them the vault keeps a random salt
 *      and H = SHA-256("vitalgate/v1/bsn-vault/secret" ‖ 0x00 ‖ salt ‖ S), never S.
 *
 * Unlock (query residuals q₀ … from another sensor over the same window):
 *   1. for each ordinal offset s in 0, −1, +1, −2, +2 … (the sensors may number the same beats
 *      differently by one or two), take in each slot j the vault point nearest to qⱼ₊ₛ. Because
 *      the comb spacing is ≥ twice the tolerance, that point is the genuine one exactly when the
 *      two sensors' residuals differ by less than spacing/2, and there is never more than one
 *      candidate per slot. Its distance is a reliability: the decoder trusts the nearest first.
 *   2. Reed–Solomon decoding (Gao) of the candidates sorted by distance, on the m most reliable for
 *      m = n, n−2, n−4, … down to k+1 in a growing schedule (generalised minimum-distance
 *      decoding); at m = k+1 this is Lagrange interpolation of a (k+1)-subset.
 *   3. accept only when the check words AND the stored hash H match. A wrong secret therefore needs
 *      a SHA-256 collision on the salted secret: no decoding error, chaff coincidence or tampered
 *      point can yield one. Anything else returns null ("not unlocked").
 *
 * parseVault validates a serialised vault completely and throws VaultFormatError for anything it
 * does not accept; unlockVault on a validated vault never throws for bad biometric input.
 */
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, hexToBytes, randomBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { GF_MODULUS } from '../field/gf65536.js';
import { type BeatWindow, type IpiFeatures, featuresFromBeats, residualToValue, quantiseResidual, featureElement, type QuantiserParams, DEFAULT_SPLIT_ABOVE, DEFAULT_MERGE_BELOW } from '../features/ipi-features.js';
import { lagrangeInterpolate, polyEval, rsDecode, type Poly } from '../field/polynomial.js';

export const VAULT_FORMAT = 'vitalgate/bsn-fuzzy-vault';
export const VAULT_VERSION = 1;
export const VAULT_FIELD = `GF(2^16)/0x${GF_MODULUS.toString(16)}`;
const CHECK_INFO = utf8ToBytes('vitalgate/v1/bsn-vault/check');
const HASH_DOMAIN = utf8ToBytes('vitalgate/v1/bsn-vault/secret');
const SALT_BYTES = 16;

export interface VaultParams extends QuantiserParams {
  /** Polynomial degree k: k + 1 coefficients, of which secretBytes/2 carry the secret, the rest are check words. */
  degree: number;
  /** Comb spacing, in value steps: the tolerance of a match is spacing/2 steps either side. */
  spacing: number;
  /** Feature extraction (must be the same at unlock, so it is part of the vault). */
  splitAbove: number;
  mergeBelow: number;
}

/**
 * Defaults, chosen on the shared PhysioNet records and a simulated cohort (docs/key-backup.md):
 * 7 slot bits + 9 value bits per IPI (up to 128 IPIs a window, residuals within ±256 ms in 1 ms
 * steps), a comb tooth every 24 ms (a match within ±12 ms: enough for ECG → PPG), degree 48
 * (49 coefficients: 16 secret words and 33 check words), so a window needs at least 49 IPIs and
 * recovery (n + 49)/2 of n matching; with 90 s windows that is 80–90 % at 50–100 bpm.
 */
export const DEFAULT_VAULT_PARAMS: Readonly<VaultParams> = Object.freeze({
  slotBits: 7,
  valueBits: 9,
  resolutionMs: 1,
  degree: 48,
  spacing: 24,
  splitAbove: DEFAULT_SPLIT_ABOVE,
  mergeBelow: DEFAULT_MERGE_BELOW,
});

export interface FuzzyVault {
  version: typeof VAULT_VERSION;
  params: VaultParams;
  secretBytes: number;
  /** The time window the features were taken from (public: recovery must measure the same window). */
  window: BeatWindow | null;
  salt: Uint8Array;
  /** SHA-256 over the domain-separated, salted secret. */
  secretHash: Uint8Array;
  /** The points, shuffled: (xs[i], ys[i]). */
  xs: Uint16Array;
  ys: Uint16Array;
  /** Free-form public labels (patient, sensor…); strings only. */
  meta: Record<string, string>;
}

/** A serialised vault that is malformed, truncated, of an unknown version or internally inconsistent. */
export class VaultFormatError extends Error {
  constructor(message: string) {
    super(`invalid fuzzy vault: ${message}`);
    this.name = 'VaultFormatError';
  }
}

/** Locking refused: bad secret, bad parameters, or too few features for the degree. */
export class VaultLockError extends Error {
  constructor(
    message: string,
    readonly code: 'bad-secret' | 'bad-params' | 'too-few-features' | 'weak-features',
  ) {
    super(message);
    this.name = 'VaultLockError';
  }
}

/** Anything the vault needs from a feature extraction. */
export type FeatureInput = Pick<IpiFeatures, 'residualsMs'> & { window?: BeatWindow };

// ---------------------------------------------------------------------------------------------
// parameters

function paramProblem(p: VaultParams, secretBytes: number): string | null {
  const int = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
  const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
  if (!int(p.slotBits) || !int(p.valueBits) || p.slotBits < 1 || p.valueBits < 2 || p.slotBits + p.valueBits !== 16) {
    return `slotBits + valueBits must be 16 with slotBits ≥ 1, valueBits ≥ 2 (got ${p.slotBits} + ${p.valueBits})`;
  }
  if (!finite(p.resolutionMs) || p.resolutionMs <= 0 || p.resolutionMs > 1000) return `resolutionMs must be in (0, 1000], got ${p.resolutionMs}`;
  if (!int(p.spacing) || p.spacing < 2 || p.spacing * 2 > 1 << p.valueBits) return `spacing must be an integer in 2…2^(valueBits−1), got ${p.spacing}`;
  if (!int(secretBytes) || secretBytes < 2 || secretBytes % 2 || secretBytes > 128) return `secret length must be an even number of bytes in 2…128, got ${secretBytes}`;
  const words = secretBytes / 2;
  if (!int(p.degree) || p.degree < words || p.degree > 127) return `degree must be an integer in ${words}…127 for a ${secretBytes}-byte secret (one check word at least), got ${p.degree}`;
  if (!finite(p.splitAbove) || p.splitAbove <= 1 || !finite(p.mergeBelow) || p.mergeBelow <= 0 || p.mergeBelow >= 1) {
    return `splitAbove must be > 1 and mergeBelow in (0, 1) (got ${p.splitAbove}, ${p.mergeBelow})`;
  }
  return null;
}

export function resolveVaultParams(params: Partial<VaultParams> = {}): VaultParams {
  return { ...DEFAULT_VAULT_PARAMS, ...params };
}

/** The defaults overridden by `params`, checked for a secret of `secretBytes`; throws VaultLockError ('bad-params'). */
export function validateVaultParams(params: Partial<VaultParams> = {}, secretBytes = 32): VaultParams {
  const p = resolveVaultParams(params);
  const problem = paramProblem(p, secretBytes);
  if (problem) throw new VaultLockError(problem, 'bad-params');
  return p;
}

// ---------------------------------------------------------------------------------------------
// security

export interface VaultSecurity {
  secretBits: number;
  genuine: number;
  chaff: number;
  degree: number;
  /** Juels–Sudan brute force: log2( C(n + m, k + 1) / C(n, k + 1) ). */
  bruteForceBits: number;
  /** Knowing the slot structure (one genuine point per slot), guess one point in each of k + 1 slots: Σ log2(points in slot). */
  slotGuessBits: number;
  /** min(secret bits, both of the above): what a uniform guesser faces. */
  securityBits: number;
}

/** log2 C(a, b), exact enough for a ≤ 65536 and small b. */
export function log2Binomial(a: number, b: number): number {
  if (b < 0 || b > a) return Number.NEGATIVE_INFINITY;
  let s = 0;
  const bb = Math.min(b, a - b);
  for (let i = 0; i < bb; i++) s += Math.log2((a - i) / (bb - i));
  return s;
}

/**
 * Brute-force security from secret length, number of genuine features n, degree k and number of
 * chaff points m (pointsPerSlot, if known, refines the slot-structure bound; default (n+m)/n).
 */
export function securityBits(args: { secretBytes: number; genuine: number; chaff: number; degree: number; pointsPerSlot?: readonly number[] }): VaultSecurity {
  const { secretBytes, genuine: n, chaff: m, degree: k } = args;
  const K = k + 1;
  const bruteForceBits = n >= K ? log2Binomial(n + m, K) - log2Binomial(n, K) : Number.POSITIVE_INFINITY;
  let slotGuessBits: number;
  if (args.pointsPerSlot && args.pointsPerSlot.length >= K) {
    // the attacker picks the k+1 slots with the fewest points
    const sorted = [...args.pointsPerSlot].sort((a, b) => a - b);
    slotGuessBits = sorted.slice(0, K).reduce((s, c) => s + Math.log2(c), 0);
  } else {
    slotGuessBits = n > 0 ? K * Math.log2((n + m) / n) : Number.POSITIVE_INFINITY;
  }
  const secretBits = 8 * secretBytes;
  return { secretBits, genuine: n, chaff: m, degree: k, bruteForceBits, slotGuessBits, securityBits: Math.min(secretBits, bruteForceBits, slotGuessBits) };
}

export function vaultSecurity(vault: FuzzyVault): VaultSecurity {
  const counts = new Map<number, number>();
  for (const x of vault.xs) {
    const slot = x >>> vault.params.valueBits;
    counts.set(slot, (counts.get(slot) ?? 0) + 1);
  }
  const n = counts.size;
  return securityBits({ secretBytes: vault.secretBytes, genuine: n, chaff: vault.xs.length - n, degree: vault.params.degree, pointsPerSlot: [...counts.values()] });
}

/**
 * How cheaply an attacker who knows only that residuals cluster around 0 could open a vault locked
 * with these features (computed at lock time from the genuine features; never stored).
 *
 * The attacker takes in every slot the comb tooth nearest to residual 0: in g of the n slots that is
 * the genuine point. Decoding any m of those n guesses succeeds when at least (m + k + 1)/2 of them
 * are genuine, so a random m-subset succeeds with the hypergeometric tail probability P(m); the
 * attacker picks the best m. zeroGuessBits = −log2 max P(m): the log of the expected number of
 * decodings. Infinity when g is too small for any m (then the attack must guess non-zero teeth,
 * which the population estimate in the evaluation report covers).
 */
export function zeroGuessResistance(features: FeatureInput, params: Partial<VaultParams> = {}): { slots: number; zeroTeeth: number; zeroGuessBits: number } {
  const p = resolveVaultParams(params);
  const residuals = features.residualsMs.slice(0, 1 << p.slotBits);
  const n = residuals.length;
  const K = p.degree + 1;
  const mid = 1 << (p.valueBits - 1);
  let g = 0;
  for (const r of residuals) {
    const v = quantiseResidual(r, p);
    if (v === nearestTooth(v % p.spacing, mid, p)) g++;
  }
  let best = Number.NEGATIVE_INFINITY; // log2 of the best success probability
  for (let m = K; m <= n; m++) {
    const need = Math.ceil((m + K) / 2);
    if (need > g) continue;
    const terms: number[] = [];
    for (let s = need; s <= Math.min(m, g); s++) {
      if (m - s > n - g) continue;
      terms.push(log2Binomial(g, s) + log2Binomial(n - g, m - s) - log2Binomial(n, m));
    }
    if (!terms.length) continue;
    const top = Math.max(...terms);
    best = Math.max(best, top + Math.log2(terms.reduce((acc, t) => acc + 2 ** (t - top), 0)));
  }
  return { slots: n, zeroTeeth: g, zeroGuessBits: best === Number.NEGATIVE_INFINITY ? Number.POSITIVE_INFINITY : Math.max(0, -best) };
}

/** The tooth of the comb with the given phase nearest to value v (within 0…2^valueBits − 1). */
function nearestTooth(phase: number, v: number, p: VaultParams): number {
  const top = (1 << p.valueBits) - 1;
  let t = phase + Math.round((v - phase) / p.spacing) * p.spacing;
  while (t > top) t -= p.spacing;
  while (t < 0) t += p.spacing;
  return t;
}

// ---------------------------------------------------------------------------------------------
// randomness

/** Uniform integers from @noble/hashes randomBytes (the OS CSPRNG), buffered. */
class SecureRandom {
  private buf = new Uint8Array(0);
  private pos = 0;
  private byte(): number {
    if (this.pos >= this.buf.length) {
      this.buf = randomBytes(4096);
      this.pos = 0;
    }
    return this.buf[this.pos++]!;
  }
  uint16(): number {
    return (this.byte() << 8) | this.byte();
  }
  uint32(): number {
    return ((this.byte() << 24) | (this.byte() << 16) | (this.byte() << 8) | this.byte()) >>> 0;
  }
  /** Uniform in 0 … n−1 (rejection sampling, no modulo bias). */
  below(n: number): number {
    if (n <= 1) return 0;
    const limit = Math.floor(0x1_0000_0000 / n) * n;
    for (;;) {
      const r = this.uint32();
      if (r < limit) return r % n;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// secret ↔ polynomial

function checkWords(secret: Uint8Array, salt: Uint8Array, count: number): number[] {
  if (count === 0) return [];
  const bytes = hkdf(sha256, secret, salt, CHECK_INFO, 2 * count);
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push((bytes[2 * i]! << 8) | bytes[2 * i + 1]!);
  return out;
}

function secretHash(secret: Uint8Array, salt: Uint8Array): Uint8Array {
  return sha256(concatBytes(HASH_DOMAIN, new Uint8Array([0]), salt, secret));
}

function secretToPoly(secret: Uint8Array, salt: Uint8Array, degree: number): Poly {
  const words: number[] = [];
  for (let i = 0; i < secret.length; i += 2) words.push((secret[i]! << 8) | secret[i + 1]!);
  return [...words, ...checkWords(secret, salt, degree + 1 - words.length)];
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

/** The secret a decoded polynomial stands for, if its check words and the vault's hash agree. */
function verifyPoly(vault: FuzzyVault, poly: Poly): Uint8Array | null {
  const K = vault.params.degree + 1;
  if (poly.length > K) return null;
  const words = vault.secretBytes / 2;
  const secret = new Uint8Array(vault.secretBytes);
  for (let i = 0; i < words; i++) {
    const c = poly[i] ?? 0;
    secret[2 * i] = c >>> 8;
    secret[2 * i + 1] = c & 0xff;
  }
  const check = checkWords(secret, vault.salt, K - words);
  for (let i = 0; i < check.length; i++) if ((poly[words + i] ?? 0) !== check[i]) return null;
  return equalBytes(secretHash(secret, vault.salt), vault.secretHash) ? secret : null;
}

// ---------------------------------------------------------------------------------------------
// lock

export interface LockOptions {
  /** Public labels stored in the vault (strings). */
  meta?: Record<string, string>;
  /**
   * Refuse (VaultLockError 'weak-features') when the "every residual is 0" guess would open the
   * vault in fewer than 2^minGuessBits decodings (see zeroGuessResistance). Default
   * DEFAULT_MIN_GUESS_BITS; 0 turns the check off (for measuring what it protects against).
   */
  minGuessBits?: number;
}

export const DEFAULT_MIN_GUESS_BITS = 64;

/**
 * Lock a secret with the features of one window. Throws VaultLockError when the secret or the
 * parameters are unusable or when there are fewer than degree + 1 features (nothing could ever
 * unlock it). Features beyond 2^slotBits are ignored.
 */
export function lockSecret(secret: Uint8Array, features: FeatureInput, params: Partial<VaultParams> = {}, opts: LockOptions = {}): FuzzyVault {
  const p = resolveVaultParams(params);
  if (!(secret instanceof Uint8Array)) throw new VaultLockError('secret must be a Uint8Array', 'bad-secret');
  const problem = paramProblem(p, secret.length);
  if (problem) throw new VaultLockError(problem, secret.length % 2 || secret.length < 2 || secret.length > 128 ? 'bad-secret' : 'bad-params');
  const residuals = features.residualsMs.slice(0, 1 << p.slotBits);
  if (residuals.some((r) => !Number.isFinite(r))) throw new VaultLockError('features must be finite numbers', 'too-few-features');
  const K = p.degree + 1;
  if (residuals.length < K) {
    throw new VaultLockError(`too few features to lock: ${residuals.length} IPIs, need at least degree + 1 = ${K} (use a longer window)`, 'too-few-features');
  }
  const minGuessBits = opts.minGuessBits ?? DEFAULT_MIN_GUESS_BITS;
  if (minGuessBits > 0) {
    const { zeroTeeth, zeroGuessBits } = zeroGuessResistance({ residualsMs: residuals }, p);
    if (zeroGuessBits < minGuessBits) {
      throw new VaultLockError(
        `features too predictable to lock: in ${zeroTeeth} of ${residuals.length} IPIs the residual is within ±${(p.spacing * p.resolutionMs) / 2} ms of the window median, ` +
          `so guessing "no variability" would open the vault in ~2^${zeroGuessBits.toFixed(1)} tries (minimum 2^${minGuessBits}); heart-rate variability is too low for this tolerance`,
        'weak-features',
      );
    }
  }
  const rng = new SecureRandom();
  const salt = randomBytes(SALT_BYTES);
  const poly = secretToPoly(secret, salt, p.degree);
  const xs: number[] = [];
  const ys: number[] = [];
  const top = 1 << p.valueBits;
  residuals.forEach((r, slot) => {
    const v = quantiseResidual(r, p);
    for (let u = v % p.spacing; u < top; u += p.spacing) {
      const x = featureElement(slot, u, p);
      const y = polyEval(poly, x);
      xs.push(x);
      if (u === v) {
        ys.push(y);
      } else {
        let c = rng.uint16();
        while (c === y) c = rng.uint16();
        ys.push(c);
      }
    }
  });
  // Fisher–Yates
  for (let i = xs.length - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
    [ys[i], ys[j]] = [ys[j]!, ys[i]!];
  }
  const meta: Record<string, string> = {};
  for (const [key, value] of Object.entries(opts.meta ?? {})) meta[key] = String(value);
  return {
    version: VAULT_VERSION,
    params: p,
    secretBytes: secret.length,
    window: features.window ? { startSeconds: features.window.startSeconds, seconds: features.window.seconds } : null,
    salt,
    secretHash: secretHash(secret, salt),
    xs: Uint16Array.from(xs),
    ys: Uint16Array.from(ys),
    meta,
  };
}

// ---------------------------------------------------------------------------------------------
// unlock

export interface UnlockOptions {
  /** Ordinal offsets tried: 0, −1, +1, … ±maxShift. Default 2. */
  maxShift?: number;
  /** Upper bound on Reed–Solomon decodings per unlock (each O(n²)). Default 400. */
  maxDecodes?: number;
}

export interface UnlockResult {
  secret: Uint8Array | null;
  /** The ordinal offset that unlocked (null when not unlocked). */
  shift: number | null;
  /** Decodings run. */
  decodes: number;
  /** How many of the least reliable candidates were left out in the decoding that succeeded. */
  erased: number | null;
}

interface SlotIndex {
  /** slot → vault point indices sorted by value. */
  slots: Map<number, { values: Int32Array; xs: Int32Array; ys: Int32Array }>;
}
const indexCache = new WeakMap<FuzzyVault, SlotIndex>();

function slotIndex(vault: FuzzyVault): SlotIndex {
  const cached = indexCache.get(vault);
  if (cached) return cached;
  const { valueBits } = vault.params;
  const mask = (1 << valueBits) - 1;
  const bySlot = new Map<number, number[]>();
  for (let i = 0; i < vault.xs.length; i++) {
    const slot = vault.xs[i]! >>> valueBits;
    let list = bySlot.get(slot);
    if (!list) bySlot.set(slot, (list = []));
    list.push(i);
  }
  const slots: SlotIndex['slots'] = new Map();
  for (const [slot, list] of bySlot) {
    list.sort((a, b) => (vault.xs[a]! & mask) - (vault.xs[b]! & mask));
    slots.set(slot, {
      values: Int32Array.from(list, (i) => vault.xs[i]! & mask),
      xs: Int32Array.from(list, (i) => vault.xs[i]!),
      ys: Int32Array.from(list, (i) => vault.ys[i]!),
    });
  }
  const index = { slots };
  indexCache.set(vault, index);
  return index;
}

interface Candidate {
  x: number;
  y: number;
  dist: number;
}

/** In each slot, the vault point nearest to the query residual at ordinal slot + shift. */
function candidates(vault: FuzzyVault, index: SlotIndex, query: readonly number[], shift: number): Candidate[] {
  const p = vault.params;
  const out: Candidate[] = [];
  for (const [slot, s] of index.slots) {
    const qi = slot + shift;
    if (qi < 0 || qi >= query.length) continue;
    const qv = residualToValue(query[qi]!, p);
    // binary search for the first value ≥ qv
    let lo = 0;
    let hi = s.values.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (s.values[mid]! < qv) lo = mid + 1;
      else hi = mid;
    }
    let best = -1;
    let bestDist = Number.POSITIVE_INFINITY;
    for (const c of [lo - 1, lo]) {
      if (c < 0 || c >= s.values.length) continue;
      const d = Math.abs(s.values[c]! - qv);
      if (d < bestDist) {
        bestDist = d;
        best = c;
      }
    }
    if (best < 0 || bestDist > p.spacing) continue;
    out.push({ x: s.xs[best]!, y: s.ys[best]!, dist: bestDist });
  }
  return out;
}

function shiftsUpTo(maxShift: number): number[] {
  const out = [0];
  for (let s = 1; s <= maxShift; s++) out.push(-s, s);
  return out;
}

/**
 * Try to open a vault with query features; the detailed form, for evaluation. Never returns a
 * secret whose salted hash differs from the vault's.
 */
export function unlockVaultDetailed(vault: FuzzyVault, query: FeatureInput, opts: UnlockOptions = {}): UnlockResult {
  assertVault(vault);
  const maxShift = opts.maxShift ?? 2;
  const maxDecodes = opts.maxDecodes ?? 400;
  const K = vault.params.degree + 1;
  const index = slotIndex(vault);
  const residuals = query.residualsMs.map((r) => (Number.isFinite(r) ? r : Number.NaN));
  let decodes = 0;
  // Plan the decodings shift by shift, most reliable first, so a budget cut drops the least promising.
  const plans: Array<{ shift: number; cands: Candidate[] }> = [];
  for (const shift of shiftsUpTo(maxShift)) {
    const cands = candidates(vault, index, residuals, shift).filter((c) => Number.isFinite(c.dist));
    if (cands.length < K) continue;
    cands.sort((a, b) => a.dist - b.dist);
    plans.push({ shift, cands });
  }
  // Generalised minimum-distance decoding (after Forney 1966): leave out the least reliable
  // candidates, two at a time at first (two erasures cost what one error does), then in steps
  // growing by a quarter, ending with exactly k + 1 (plain interpolation). Genuine queries almost
  // always open at once; the schedule bounds what a failed attempt costs.
  const maxN = plans.reduce((mx, p) => Math.max(mx, p.cands.length), 0);
  const drops: number[] = [];
  for (let d = 0; maxN - d >= K; d = d < 8 ? d + 2 : d + 2 * Math.round(d / 8)) drops.push(d);
  if (maxN >= K) drops.push(maxN - K);
  const tried = new Set<string>();
  for (const drop of drops) {
    if (decodes >= maxDecodes) break;
    for (const { shift, cands } of plans) {
      const m = Math.max(K, cands.length - drop);
      if (decodes >= maxDecodes) break;
      const use = cands.slice(0, m);
      const key = use.map((c) => c.x).sort((a, b) => a - b).join(','); // x determines the point
      if (tried.has(key)) continue;
      tried.add(key);
      decodes++;
      const xs = use.map((c) => c.x);
      const ys = use.map((c) => c.y);
      const poly = m === K ? lagrangeInterpolate(xs, ys) : rsDecode(xs, ys, K);
      if (!poly) continue;
      const secret = verifyPoly(vault, poly);
      if (secret) return { secret, shift, decodes, erased: cands.length - m };
    }
  }
  return { secret: null, shift: null, decodes, erased: null };
}

/** Open a vault: the secret, or null when the features do not unlock it (never a wrong secret). */
export function unlockVault(vault: FuzzyVault, query: FeatureInput, opts: UnlockOptions = {}): Uint8Array | null {
  return unlockVaultDetailed(vault, query, opts).secret;
}

/**
 * Backup in one call: the features of `window` from one sensor's beat times (seconds), locked.
 * The window is stored in the vault: recovery must measure the same stretch of time.
 */
export function lockSecretWithBeats(
  secret: Uint8Array,
  beatTimesSeconds: ArrayLike<number>,
  window: BeatWindow,
  params: Partial<VaultParams> = {},
  opts: LockOptions = {},
): FuzzyVault {
  const p = resolveVaultParams(params);
  return lockSecret(secret, featuresFromBeats(beatTimesSeconds, window, p), p, opts);
}

/**
 * Recovery in one call: features from another sensor's beat times over the vault's own window
 * (same clock as at backup), then unlockVault. Throws VaultFormatError for a vault without a window.
 */
export function unlockVaultWithBeats(vault: FuzzyVault, beatTimesSeconds: ArrayLike<number>, opts: UnlockOptions = {}): Uint8Array | null {
  assertVault(vault);
  if (!vault.window) throw new VaultFormatError('the vault records no time window; compute features with featuresFromBeats and call unlockVault');
  return unlockVault(vault, featuresFromBeats(beatTimesSeconds, vault.window, vault.params), opts);
}

/** Check a secret against a vault's stored hash (e.g. after recovery by other means). */
export function vaultMatchesSecret(vault: FuzzyVault, secret: Uint8Array): boolean {
  return secret.length === vault.secretBytes && equalBytes(secretHash(secret, vault.salt), vault.secretHash);
}

// ---------------------------------------------------------------------------------------------
// serialisation

interface VaultJson {
  format: typeof VAULT_FORMAT;
  version: number;
  field: string;
  params: VaultParams;
  secretBytes: number;
  window: BeatWindow | null;
  hash: 'sha256';
  salt: string;
  secretHash: string;
  /** 8 hex digits per point: x then y, 16 bits each, big-endian. */
  points: string;
  meta: Record<string, string>;
}

const PARAM_KEYS: ReadonlyArray<keyof VaultParams> = ['slotBits', 'valueBits', 'resolutionMs', 'degree', 'spacing', 'splitAbove', 'mergeBelow'];
const TOP_KEYS = ['format', 'version', 'field', 'params', 'secretBytes', 'window', 'hash', 'salt', 'secretHash', 'points', 'meta'];

/** The vault as public helper JSON (one line). */
export function serializeVault(vault: FuzzyVault): string {
  assertVault(vault);
  let points = '';
  for (let i = 0; i < vault.xs.length; i++) points += vault.xs[i]!.toString(16).padStart(4, '0') + vault.ys[i]!.toString(16).padStart(4, '0');
  const params = Object.fromEntries(PARAM_KEYS.map((k) => [k, vault.params[k]])) as unknown as VaultParams;
  const json: VaultJson = {
    format: VAULT_FORMAT,
    version: vault.version,
    field: VAULT_FIELD,
    params,
    secretBytes: vault.secretBytes,
    window: vault.window,
    hash: 'sha256',
    salt: bytesToHex(vault.salt),
    secretHash: bytesToHex(vault.secretHash),
    points,
    meta: vault.meta,
  };
  return JSON.stringify(json);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Structural checks shared by parseVault and the in-memory entry points. */
function vaultProblem(v: FuzzyVault): string | null {
  if (!isPlainObject(v)) return 'not an object';
  if (v.version !== VAULT_VERSION) return `unsupported version ${String(v.version)} (this build reads ${VAULT_VERSION})`;
  if (!isPlainObject(v.params)) return 'params missing';
  const pp = paramProblem(v.params, v.secretBytes);
  if (pp) return pp;
  if (!(v.salt instanceof Uint8Array) || v.salt.length !== SALT_BYTES) return `salt must be ${SALT_BYTES} bytes`;
  if (!(v.secretHash instanceof Uint8Array) || v.secretHash.length !== 32) return 'secretHash must be 32 bytes';
  if (!(v.xs instanceof Uint16Array) || !(v.ys instanceof Uint16Array) || v.xs.length !== v.ys.length) return 'points malformed';
  if (v.window !== null) {
    if (!isPlainObject(v.window) || !Number.isFinite(v.window.startSeconds) || !(Number.isFinite(v.window.seconds) && v.window.seconds > 0)) return 'window malformed';
  }
  if (!isPlainObject(v.meta) || Object.values(v.meta).some((s) => typeof s !== 'string')) return 'meta must map names to strings';
  const { valueBits, slotBits, spacing, degree } = v.params;
  const seen = new Uint8Array(1 << 16);
  const perSlot = new Map<number, number[]>();
  for (let i = 0; i < v.xs.length; i++) {
    const x = v.xs[i]!;
    if (seen[x]) return `duplicate point x = ${x}`;
    seen[x] = 1;
    const slot = x >>> valueBits;
    if (slot >= 1 << slotBits) return `point x = ${x} outside the slot range`;
    let list = perSlot.get(slot);
    if (!list) perSlot.set(slot, (list = []));
    list.push(x & ((1 << valueBits) - 1));
  }
  if (perSlot.size < degree + 1) return `only ${perSlot.size} feature slots for degree ${degree}: cannot ever unlock`;
  // Every slot must be one full comb: the same spacing throughout, covering the value range.
  const top = 1 << valueBits;
  for (const [slot, values] of perSlot) {
    values.sort((a, b) => a - b);
    const phase = values[0]!;
    const expected = Math.ceil((top - phase) / spacing);
    if (phase >= spacing || values.length !== expected || values.some((u, j) => u !== phase + j * spacing)) return `slot ${slot} is not a comb of spacing ${spacing}`;
  }
  return null;
}

const validated = new WeakSet<FuzzyVault>();
function assertVault(v: FuzzyVault): void {
  if (validated.has(v)) return;
  const problem = vaultProblem(v);
  if (problem) throw new VaultFormatError(problem);
  validated.add(v);
}

/** Parse and fully validate a serialised vault; throws VaultFormatError for anything malformed. */
export function parseVault(input: string | Uint8Array | unknown): FuzzyVault {
  let doc: unknown = input;
  if (typeof input === 'string' || input instanceof Uint8Array) {
    const text = typeof input === 'string' ? input : new TextDecoder('utf-8', { fatal: false }).decode(input);
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw new VaultFormatError(`not JSON (${(e as Error).message})`);
    }
  }
  if (!isPlainObject(doc)) throw new VaultFormatError('not a JSON object');
  for (const key of Object.keys(doc)) if (!TOP_KEYS.includes(key)) throw new VaultFormatError(`unknown field "${key}"`);
  if (doc.format !== VAULT_FORMAT) throw new VaultFormatError(`format must be "${VAULT_FORMAT}", got ${JSON.stringify(doc.format)}`);
  if (doc.version !== VAULT_VERSION) throw new VaultFormatError(`unsupported version ${JSON.stringify(doc.version)} (this build reads ${VAULT_VERSION})`);
  if (doc.field !== VAULT_FIELD) throw new VaultFormatError(`field must be "${VAULT_FIELD}", got ${JSON.stringify(doc.field)}`);
  if (doc.hash !== 'sha256') throw new VaultFormatError(`hash must be "sha256", got ${JSON.stringify(doc.hash)}`);
  if (!isPlainObject(doc.params)) throw new VaultFormatError('params must be an object');
  const params = {} as Record<string, number>;
  for (const key of PARAM_KEYS) {
    const value = doc.params[key];
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new VaultFormatError(`params.${key} must be a finite number`);
    params[key] = value;
  }
  for (const key of Object.keys(doc.params)) if (!(PARAM_KEYS as readonly string[]).includes(key)) throw new VaultFormatError(`unknown parameter "${key}"`);
  const hex = (name: string, v: unknown, bytes: number): Uint8Array => {
    if (typeof v !== 'string' || v.length !== 2 * bytes || !/^[0-9a-f]*$/i.test(v)) throw new VaultFormatError(`${name} must be ${bytes} bytes of hex`);
    return hexToBytes(v.toLowerCase());
  };
  const salt = hex('salt', doc.salt, SALT_BYTES);
  const secretHash = hex('secretHash', doc.secretHash, 32);
  if (typeof doc.points !== 'string' || doc.points.length % 8 !== 0 || !/^[0-9a-f]*$/i.test(doc.points)) {
    throw new VaultFormatError('points must be hex, 8 digits per point (truncated?)');
  }
  const count = doc.points.length / 8;
  if (count > 1 << 16) throw new VaultFormatError('too many points');
  const xs = new Uint16Array(count);
  const ys = new Uint16Array(count);
  for (let i = 0; i < count; i++) {
    xs[i] = Number.parseInt(doc.points.slice(8 * i, 8 * i + 4), 16);
    ys[i] = Number.parseInt(doc.points.slice(8 * i + 4, 8 * i + 8), 16);
  }
  let window: BeatWindow | null = null;
  if (doc.window !== null && doc.window !== undefined) {
    if (!isPlainObject(doc.window)) throw new VaultFormatError('window must be an object or null');
    const { startSeconds, seconds } = doc.window;
    if (typeof startSeconds !== 'number' || typeof seconds !== 'number') throw new VaultFormatError('window needs numeric startSeconds and seconds');
    window = { startSeconds, seconds };
  }
  const meta: Record<string, string> = {};
  if (doc.meta !== undefined) {
    if (!isPlainObject(doc.meta)) throw new VaultFormatError('meta must be an object');
    for (const [k, v] of Object.entries(doc.meta)) {
      if (typeof v !== 'string') throw new VaultFormatError(`meta.${k} must be a string`);
      meta[k] = v;
    }
  }
  if (typeof doc.secretBytes !== 'number') throw new VaultFormatError('secretBytes must be a number');
  const vault: FuzzyVault = {
    version: VAULT_VERSION,
    params: params as unknown as VaultParams,
    secretBytes: doc.secretBytes,
    window,
    salt,
    secretHash,
    xs,
    ys,
    meta,
  };
  assertVault(vault);
  return vault;
}

/** For tests and diagnostics: is vault point i genuine for this secret? (Needs the secret.) */
export function isGenuinePoint(vault: FuzzyVault, secret: Uint8Array, i: number): boolean {
  const poly = secretToPoly(secret, vault.salt, vault.params.degree);
  return polyEval(poly, vault.xs[i]!) === vault.ys[i]!;
}
