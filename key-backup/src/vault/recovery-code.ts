/**
 * Recovery codes: the optional second factor of a key backup (key-backup.ts, docs/key-backup.md).
 *
 * A generated code is 140 random bits written as 7 groups of 5 Crockford base32 characters, each
 * group 4 data characters and 1 check character:  7K2QM-X9T4D-…  It is read aloud, written on
 * paper and typed back, so the format is built for people: no I, L, O or U (Crockford reads I/L as
 * 1 and O as 0), case and separators do not matter, and every group carries its own check so a
 * typo is reported by group, before any slow key derivation runs.
 *
 * The check is linear over GF(32): c = (g + 1) ⊕ Σ wᵢ·dᵢ with distinct non-zero weights wᵢ. So a
 * change of any single character (data or check) always changes the check, two swapped neighbours
 * in a group always do too ((wᵢ ⊕ wⱼ)(dᵢ ⊕ dⱼ) ≠ 0), and a whole group moved to another position
 * fails because the group index is folded in. The check is for typos, not security: the secrecy
 * is in the 140 data bits alone.
 *
 * Codes supplied by the user instead (any text from a file) are taken as passphrases: they are only
 * as strong as they are unguessable, which scrypt stretches but cannot create.
 */
import { randomBytes } from '@noble/hashes/utils.js';

export const RECOVERY_CODE_GROUPS = 7;
const DATA_PER_GROUP = 4;
export const RECOVERY_CODE_BITS = RECOVERY_CODE_GROUPS * DATA_PER_GROUP * 5;
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** Crockford: I and L read as 1, O as 0. U is not a symbol. */
const ALIASES: Readonly<Record<string, string>> = { I: '1', L: '1', O: '0' };
const WEIGHTS = [2, 4, 8, 16] as const; // α¹…α⁴: distinct and non-zero

/** A recovery code that cannot be right: wrong length, a character outside the alphabet, or a group whose check fails. */
export class RecoveryCodeError extends Error {
  constructor(message: string, readonly group: number | null) {
    super(message);
    this.name = 'RecoveryCodeError';
  }
}

/** Multiplication in GF(2^5) modulo x⁵ + x² + 1. */
function gf32Mul(a: number, b: number): number {
  let r = 0;
  for (let i = 0; i < 5; i++) {
    if (b & 1) r ^= a;
    b >>= 1;
    a <<= 1;
    if (a & 0x20) a ^= 0x25;
  }
  return r;
}

function groupCheck(group: number, digits: readonly number[]): number {
  let c = group + 1;
  for (let i = 0; i < DATA_PER_GROUP; i++) c ^= gf32Mul(WEIGHTS[i]!, digits[i]!);
  return c;
}

/** 140 bits from the CSPRNG, as a code of 7 groups (e.g. for `vitalgate keys backup --recovery-code`). */
export function generateRecoveryCode(): string {
  const bytes = randomBytes(18); // 144 bits: the top 140 are used
  const digits: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5 && digits.length < RECOVERY_CODE_GROUPS * DATA_PER_GROUP) {
      bits -= 5;
      digits.push((acc >> bits) & 31);
    }
    acc &= (1 << bits) - 1;
  }
  return encodeRecoveryDigits(digits);
}

/** 28 data digits (0…31) → the printed code with its check characters. */
export function encodeRecoveryDigits(digits: readonly number[]): string {
  if (digits.length !== RECOVERY_CODE_GROUPS * DATA_PER_GROUP || digits.some((d) => !Number.isInteger(d) || d < 0 || d > 31)) {
    throw new RangeError(`a recovery code has ${RECOVERY_CODE_GROUPS * DATA_PER_GROUP} digits in 0…31`);
  }
  const groups: string[] = [];
  for (let g = 0; g < RECOVERY_CODE_GROUPS; g++) {
    const d = digits.slice(g * DATA_PER_GROUP, (g + 1) * DATA_PER_GROUP);
    groups.push(d.map((x) => ALPHABET[x]).join('') + ALPHABET[groupCheck(g, d)]);
  }
  return groups.join('-');
}

export interface DecodedRecoveryCode {
  /** The code in its printed form (upper case, hyphens): what the key is derived from. */
  canonical: string;
  /** The 28 data digits (the secret part). */
  digits: number[];
  /** The 140 data bits packed big-endian into 18 bytes (low 4 bits zero). */
  bytes: Uint8Array;
}

/** Does this text look like an attempt at a generated code (rather than a chosen passphrase)? */
export function looksLikeRecoveryCode(text: string): boolean {
  const groups = text.trim().split(/[\s-]+/).filter(Boolean);
  return groups.length === RECOVERY_CODE_GROUPS && groups.every((g) => /^[0-9a-z]{5}$/i.test(g));
}

/**
 * Reads a code as typed: case, spaces and hyphens do not matter, I/L/O are read as 1/1/0. Throws
 * RecoveryCodeError naming the first group that cannot be right.
 */
export function decodeRecoveryCode(text: string): DecodedRecoveryCode {
  const compact = text.replace(/[\s-]+/g, '').toUpperCase();
  const per = DATA_PER_GROUP + 1;
  if (compact.length !== RECOVERY_CODE_GROUPS * per) {
    throw new RecoveryCodeError(`a recovery code has ${RECOVERY_CODE_GROUPS} groups of ${per} characters (${RECOVERY_CODE_GROUPS * per} in all); this one has ${compact.length}`, null);
  }
  const digits: number[] = [];
  const groups: string[] = [];
  for (let g = 0; g < RECOVERY_CODE_GROUPS; g++) {
    const typed = compact.slice(g * per, (g + 1) * per);
    const vals: number[] = [];
    for (const ch of typed) {
      const v = ALPHABET.indexOf(ALIASES[ch] ?? ch);
      if (v < 0) throw new RecoveryCodeError(`group ${g + 1} of the recovery code (${typed}) has "${ch}", which is not in a recovery code`, g + 1);
      vals.push(v);
    }
    if (groupCheck(g, vals.slice(0, DATA_PER_GROUP)) !== vals[DATA_PER_GROUP]) {
      throw new RecoveryCodeError(`group ${g + 1} of the recovery code (${typed}) is mistyped: its check character does not match`, g + 1);
    }
    digits.push(...vals.slice(0, DATA_PER_GROUP));
    groups.push(vals.map((v) => ALPHABET[v]).join(''));
  }
  const bytes = new Uint8Array(18);
  digits.forEach((d, i) => {
    for (let b = 0; b < 5; b++) {
      if ((d >> (4 - b)) & 1) {
        const bit = i * 5 + b;
        bytes[bit >> 3]! |= 0x80 >> (bit & 7);
      }
    }
  });
  return { canonical: groups.join('-'), digits, bytes };
}
