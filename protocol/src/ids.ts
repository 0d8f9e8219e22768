/**
 * Patient and device identifiers appear in MQTT topics, file names and sealed-batch headers, so they
 * are restricted to characters that are safe in all three: no '/', '+', '#', NUL or whitespace.
 */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function isValidId(s: string): boolean {
  return ID_PATTERN.test(s);
}

export function assertValidId(kind: string, s: string): void {
  if (!isValidId(s)) {
    throw new Error(`invalid ${kind} id ${JSON.stringify(s)}: use 1-64 of A-Z a-z 0-9 . _ - (starting with a letter or digit)`);
  }
}
