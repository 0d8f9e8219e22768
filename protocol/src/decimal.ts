/**
 * Exact decimal numbers for binary wire formats: value = mantissa × 10^exponent with an i8 exponent
 * and an i32 mantissa. A device reporting 36.85 °C sends (3685, -2) and the gateway gets 36.85
 * exactly; a float32 would deliver 36.849998.
 */
export interface Decimal { mantissa: number; exponent: number }

/** The shortest exact decimal for `v`, or undefined when it needs more than 9 significant digits. */
export function toDecimal(v: number): Decimal | undefined {
  if (!Number.isFinite(v)) return undefined;
  for (let e = 0; e >= -9; e--) {
    const m = Math.round(v * 10 ** -e);
    if (Math.abs(m) > 0x7fffffff) return undefined;
    if (fromDecimal({ mantissa: m, exponent: e }) === v) return { mantissa: m, exponent: e };
  }
  return undefined;
}

export function fromDecimal(d: Decimal): number {
  // Division by a power of ten rounds to the nearest double, which is what a decimal literal gives.
  return d.exponent >= 0 ? d.mantissa * 10 ** d.exponent : d.mantissa / 10 ** -d.exponent;
}
