/**
 * Keeps a flood of identical warnings (one bad device sending thousands of malformed frames) from
 * drowning the log: the first few per reason are logged in full, the rest are counted and reported
 * once per interval. Counters elsewhere still see every event.
 */
import type { Logger } from 'pino';

export class LogThrottle {
  private readonly seen = new Map<string, { logged: number; suppressed: number }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly log: Logger, private readonly perInterval = 5, private readonly intervalMs = 10_000) {}

  warn(reasonKey: string, fields: Record<string, unknown>, msg: string): void {
    let s = this.seen.get(reasonKey);
    if (!s) {
      s = { logged: 0, suppressed: 0 };
      this.seen.set(reasonKey, s);
    }
    if (s.logged < this.perInterval) {
      s.logged++;
      this.log.warn(fields, msg);
    } else {
      s.suppressed++;
    }
    this.timer ??= setTimeout(() => this.report(), this.intervalMs).unref();
  }

  report(): void {
    this.timer = undefined;
    for (const [reason, s] of this.seen) {
      if (s.suppressed > 0) this.log.warn({ reason, suppressed: s.suppressed }, 'further messages with this reason were rejected');
    }
    this.seen.clear();
  }
}
