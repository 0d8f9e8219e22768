/**
 * The one error type the WFDB reader throws for bad input: malformed headers, truncated or
 * oversized signal files, unsupported formats, corrupt annotation files. Anything else escaping
 * from this module (TypeError, RangeError, ...) is a bug.
 */
export class WfdbError extends Error {
  override readonly name = 'WfdbError';
  /** The file the problem is in, when known. */
  readonly file: string | undefined;
  /** 1-based header line number, for header errors. */
  readonly line: number | undefined;

  constructor(message: string, where: { file?: string; line?: number } = {}) {
    super(message);
    this.file = where.file;
    this.line = where.line;
  }
}
