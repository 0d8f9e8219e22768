/**
 * A bounds-checked little-endian reader for one characteristic value. Every read names the field
 * it wants, so a short or malformed payload is reported as the device engineer would describe it
 * ("need 2 bytes for RR interval at offset 4, have 1") rather than as a RangeError.
 *
 * Reads throw GattDecodeError; `decodeWith` is the only place that catches, so each decoder stays
 * straight-line code and still never throws past its own boundary.
 */
import { fail, ok, type Result } from '@vitalgate/protocol';
import { decodeFloat, decodeSfloat, type MeasuredValue, measured } from './ieee11073.js';

/**
 * ATT caps an attribute value at 512 octets (Core Spec v5.x, Vol 3 Part F §3.2.9). Anything longer
 * did not come from a characteristic, and the cap bounds the work one call can do.
 */
export const MAX_ATTRIBUTE_BYTES = 512;

export class GattDecodeError extends Error {
  override name = 'GattDecodeError';
}

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

export class ByteReader {
  #offset = 0;

  constructor(private readonly bytes: Uint8Array, readonly characteristic: string) {}

  get offset(): number {
    return this.#offset;
  }

  get remaining(): number {
    return this.bytes.length - this.#offset;
  }

  /** Reserves `n` bytes for `field` and returns where they start. */
  private take(n: number, field: string): number {
    if (this.remaining < n) {
      throw new GattDecodeError(
        `${this.characteristic}: truncated: need ${plural(n, 'byte')} for ${field} at offset ${this.#offset}, have ${this.remaining}`,
      );
    }
    const at = this.#offset;
    this.#offset += n;
    return at;
  }

  private byte(i: number): number {
    // take() has checked the bounds; the fallback only satisfies noUncheckedIndexedAccess.
    return this.bytes[i] ?? 0;
  }

  u8(field: string): number {
    return this.byte(this.take(1, field));
  }

  u16(field: string): number {
    const i = this.take(2, field);
    return this.byte(i) | (this.byte(i + 1) << 8);
  }

  s16(field: string): number {
    const v = this.u16(field);
    return v >= 0x8000 ? v - 0x10000 : v;
  }

  u24(field: string): number {
    const i = this.take(3, field);
    return this.byte(i) | (this.byte(i + 1) << 8) | (this.byte(i + 2) << 16);
  }

  u32(field: string): number {
    const i = this.take(4, field);
    return (this.byte(i) | (this.byte(i + 1) << 8) | (this.byte(i + 2) << 16) | (this.byte(i + 3) << 24)) >>> 0;
  }

  sfloat(field: string): MeasuredValue {
    return measured(decodeSfloat(this.u16(field)));
  }

  float(field: string): MeasuredValue {
    return measured(decodeFloat(this.u32(field)));
  }

  /** Raises a payload problem that is not a missing byte, at the current offset. */
  inconsistent(message: string): never {
    throw new GattDecodeError(`${this.characteristic}: inconsistent: ${message}`);
  }

  /**
   * Extra bytes mean the flags and the length disagree. RFU flag bits are ignored as the SIG specs
   * require, but bytes we cannot place are refused: a field we silently skipped would be data lost.
   */
  expectEnd(): void {
    if (this.remaining > 0) {
      this.inconsistent(`${plural(this.remaining, 'trailing byte')} at offset ${this.#offset} that the flags do not announce`);
    }
  }
}

function describe(e: unknown): string {
  try {
    return e instanceof Error ? e.message : String(e);
  } catch {
    return 'unprintable error';
  }
}

/** Runs one characteristic decoder with every failure turned into a reason. */
export function decodeWith<T>(characteristic: string, bytes: unknown, body: (r: ByteReader) => T): Result<T> {
  try {
    if (!(bytes instanceof Uint8Array)) return fail(`${characteristic}: payload must be a Uint8Array`);
    if (bytes.length > MAX_ATTRIBUTE_BYTES) {
      return fail(`${characteristic}: inconsistent: ${bytes.length} bytes exceed the ${MAX_ATTRIBUTE_BYTES}-byte maximum attribute value`);
    }
    const r = new ByteReader(bytes, characteristic);
    const value = body(r);
    r.expectEnd();
    return ok(value);
  } catch (e) {
    if (e instanceof GattDecodeError) return fail(e.message);
    return fail(`${characteristic}: decoder fault: ${describe(e)}`);
  }
}
