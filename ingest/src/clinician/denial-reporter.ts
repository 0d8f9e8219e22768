/**
 * Denied clinician requests, reported to the Registry (`reportDenied`) in batches, as in Nguyen et
 * al.: a requester that keeps asking for what it was not granted reaches the Registry's threshold
 * and is banned, and a ban refuses it everything at every ingest instance and gateway.
 *
 * Denials are counted per clinician and sent every `intervalMs` (one transaction per clinician with
 * denials since the last report), not one transaction per request: a probing client cannot make
 * ingest spend gas per request, and a burst costs one transaction. A report that cannot be sent (chain
 * down, out of gas) keeps its count for the next try: no denial is dropped. The transactions go from the
 * auditor account (Registry.AUDITOR_ROLE) one after another, so they never race for a nonce.
 */
export interface DenialSink {
  reportDenied(requester: string, count: number): Promise<{ wait(): Promise<unknown> }>;
}

export interface DenialReporterLogger {
  info(o: object, msg: string): void;
  warn(o: object, msg: string): void;
}

export const DEFAULT_DENIAL_REPORT_MS = 5_000;
/** uint32 on chain; far above any real burst. */
const MAX_COUNT_PER_REPORT = 0xffff_ffff;

export class DenialReporter {
  private readonly pending = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private failing = false;
  /** Denials reported on chain since start, for status and tests. */
  reported = 0;

  constructor(private readonly registry: DenialSink, private readonly log?: DenialReporterLogger) {}

  /** Counts one denied request by `clinician`. */
  record(clinician: string): void {
    this.pending.set(clinician, Math.min((this.pending.get(clinician) ?? 0) + 1, MAX_COUNT_PER_REPORT));
  }

  /** Denials counted but not yet on chain. */
  get waiting(): number {
    let n = 0;
    for (const c of this.pending.values()) n += c;
    return n;
  }

  start(intervalMs = DEFAULT_DENIAL_REPORT_MS): void {
    this.timer = setInterval(() => void this.flush(), intervalMs);
    this.timer.unref();
  }

  /** Stops the timer and makes a last attempt to report what is counted. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  /** Reports every count now; resolves when done (or failed, counts kept). */
  flush(): Promise<void> {
    this.flushing ??= this.flushNow().finally(() => { this.flushing = undefined; });
    return this.flushing;
  }

  private async flushNow(): Promise<void> {
    for (const [clinician, count] of [...this.pending]) {
      let tx;
      try {
        tx = await this.registry.reportDenied(clinician, count);
      } catch (e) {
        if (!this.failing) this.log?.warn({ err: (e as Error).message.split('\n')[0]!.slice(0, 300), waiting: this.waiting }, 'cannot report denied requests to the Registry; kept for the next try');
        this.failing = true;
        return;
      }
      // Sent is counted as reported: sending it again after a lost receipt would strike twice for one denial.
      // Denials counted while the transaction was being sent stay for the next report.
      const left = (this.pending.get(clinician) ?? 0) - count;
      if (left > 0) this.pending.set(clinician, left);
      else this.pending.delete(clinician);
      this.reported += count;
      try {
        await tx.wait();
        this.log?.info({ clinician, count }, 'denied requests reported to the Registry');
      } catch (e) {
        this.log?.warn({ clinician, count, err: (e as Error).message.split('\n')[0]!.slice(0, 300) }, 'a denial report was sent but its receipt could not be read');
      }
    }
    if (this.failing) this.log?.info({}, 'denied requests reported again');
    this.failing = false;
  }
}
