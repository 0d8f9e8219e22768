/**
 * A measurement source that cannot be used as asked: an unreadable record, a signal it lacks, a
 * window outside it, a clock that cannot be placed, a subscription refused, a stream that stopped.
 * The message says what to change; nothing was locked, unlocked or written.
 */
export class SourceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SourceError';
  }
}
