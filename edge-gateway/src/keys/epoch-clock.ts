/**
 * The gateway's current epoch, persisted in an append-only log (epochs.jsonl) so that epoch numbers
 * are never reused, and the span of time each epoch covers stays public knowledge. No key is in it:
 * epoch keys are derived from the patient's master secret when needed.
 */
import { advanceEpoch, type EpochRecord } from '@vitalgate/protocol';
import { AppendLog, readLog } from '@vitalgate/protocol/durable';

export class EpochClock {
  private log: AppendLog<EpochRecord> | undefined;
  /** Called with each epoch record once it is durable (the upload spool queues it). */
  onRecord: ((rec: EpochRecord) => void) | undefined;
  private constructor(readonly path: string, readonly periodMs: number, private cur: EpochRecord, readonly history: EpochRecord[]) {}

  static async readLog(path: string): Promise<EpochRecord[]> {
    return (await readLog<EpochRecord>(path)).entries.map((e) => e.value);
  }

  /**
   * Opens the log and starts a new epoch: a restarted gateway never continues an old one.
   * `usedUpTo` is the highest epoch any stored batch was sealed under: if the log lost its last
   * record (a torn write, or damage), numbering still resumes above it, so no epoch number, and so
   * no data key, ever covers two spans of time.
   */
  static async open(path: string, periodMs: number, now = Date.now(), usedUpTo = -1): Promise<EpochClock> {
    const { log, entries } = await AppendLog.open<EpochRecord>(path);
    const history = entries.map((e) => e.value);
    const last = history.at(-1);
    const epoch = Math.max(last ? last.epoch + 1 : 0, usedUpTo + 1);
    const first: EpochRecord = { epoch, startedAt: Math.max(now, last?.startedAt ?? 0), reason: 'start' };
    const clock = new EpochClock(path, periodMs, first, history);
    clock.log = log;
    await clock.persist(first);
    return clock;
  }

  get current(): EpochRecord {
    return this.cur;
  }

  /** The epoch to seal with at `now`, rotating (durably) first if a boundary has passed. */
  async at(now = Date.now()): Promise<EpochRecord> {
    const next = advanceEpoch(this.cur, now, this.periodMs);
    if (next !== this.cur) await this.persist(next);
    return this.cur;
  }

  /** Rotates at once, for example because access was revoked. */
  async rotate(now = Date.now()): Promise<EpochRecord> {
    await this.persist({ epoch: this.cur.epoch + 1, startedAt: Math.max(now, this.cur.startedAt), reason: 'demand' });
    return this.cur;
  }

  private async persist(rec: EpochRecord): Promise<void> {
    if (!this.log) throw new Error('epoch log is closed');
    await this.log.append([rec]);
    this.history.push(rec);
    this.cur = rec;
    this.onRecord?.(rec);
  }

  async close(): Promise<void> {
    await this.log?.close();
    this.log = undefined;
  }
}
