/**
 * The gateway's current epoch, persisted in an append-only log (epochs.jsonl) so that epoch numbers
 * are never reused, and the span of time each epoch covers stays public knowledge. No key is in it:
 * epoch keys are derived from the patient's master secret when needed.
 */
import { open, readFile, type FileHandle } from 'node:fs/promises';
import { advanceEpoch, type EpochRecord } from '@vitalgate/protocol';

export class EpochClock {
  private fh: FileHandle | undefined;
  private constructor(readonly path: string, readonly periodMs: number, private cur: EpochRecord, readonly history: EpochRecord[]) {}

  static async readLog(path: string): Promise<EpochRecord[]> {
    try {
      return (await readFile(path, 'utf8')).split('\n').filter(Boolean).flatMap((l) => {
        try { return [JSON.parse(l) as EpochRecord]; } catch { return []; }
      });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }

  /** Opens the log and starts a new epoch: a restarted gateway never continues an old one. */
  static async open(path: string, periodMs: number, now = Date.now()): Promise<EpochClock> {
    const history = await EpochClock.readLog(path);
    const last = history.at(-1);
    const first: EpochRecord = { epoch: last ? last.epoch + 1 : 0, startedAt: Math.max(now, last?.startedAt ?? 0), reason: 'start' };
    const clock = new EpochClock(path, periodMs, first, history);
    clock.fh = await open(path, 'a', 0o644);
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
    if (!this.fh) throw new Error('epoch log is closed');
    await this.fh.write(JSON.stringify(rec) + '\n');
    await this.fh.sync();
    this.history.push(rec);
    this.cur = rec;
  }

  async close(): Promise<void> {
    await this.fh?.close();
    this.fh = undefined;
  }
}
