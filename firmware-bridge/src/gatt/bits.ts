/**
 * Status words in the health characteristics are bit sets whose meanings the specs enumerate.
 * Decoders keep the raw word (nothing lost, RFU bits included) and add the names of the set,
 * defined bits, so a caller can test for "invalid-measurement-detected" without a bit table.
 */

/** `names[i]` names bit i; undefined marks a bit the spec reserves for future use. */
export function namedBits<N extends string>(word: number, names: readonly (N | undefined)[]): N[] {
  const set: N[] = [];
  names.forEach((name, bit) => {
    if (name !== undefined && (word >>> bit) & 1) set.push(name);
  });
  return set;
}
