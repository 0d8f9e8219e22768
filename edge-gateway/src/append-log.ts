/**
 * The one append-only log behind the gateway's index, epoch log and anchor log: JSON lines, one
 * record per line, each carrying its log sequence number `lsn` first:
 *
 *   {"lsn":0,...record}\n{"lsn":1,...record}\n
 *
 * Appends are group committed (one write, one fsync). A crash can only tear the last append, so
 * on open a last line that is not a whole record is cut off (ftruncate + fsync): the record it held
 * was never durable, so nobody was told it was. Sequence numbers are written into the lines rather
 * than implied by position, so a damaged line in the middle (a disk fault, not a crash) is skipped
 * and counted without shifting any other record's number; references between logs use them or a
 * record's own id, never a line position. Lines written before `lsn` existed get their position.
 *
 * `lsn` is reserved: a record's own field of that name is overwritten.
 */
import { open, readFile, type FileHandle } from 'node:fs/promises';

export interface LogEntry<T> { lsn: number; value: T }

export interface LogReadResult<T> {
  entries: Array<LogEntry<T>>;
  /** Bytes at the end that were not a whole record (a torn append). */
  tornBytes: number;
  /** Newline-terminated lines in the middle that were not records (damage, not a crash). */
  damagedLines: number;
  /** Length of the file up to the end of its last whole record. */
  goodLength: number;
}

const NEWLINE = 0x0a;

function parseRecord(line: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(line);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Reads a log without changing it (for offline tools and for `open`). A missing file is empty. */
export async function readLog<T>(path: string): Promise<LogReadResult<T>> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], tornBytes: 0, damagedLines: 0, goodLength: 0 };
    throw e;
  }
  const entries: Array<LogEntry<T>> = [];
  let damagedLines = 0;
  let start = 0;
  let goodLength = 0;
  let nextLsn = 0;
  const take = (rec: Record<string, unknown>): boolean => {
    const lsn = rec.lsn === undefined ? nextLsn : rec.lsn;
    if (typeof lsn !== 'number' || !Number.isSafeInteger(lsn) || lsn < nextLsn) return false;
    delete rec.lsn;
    entries.push({ lsn, value: rec as T });
    nextLsn = lsn + 1;
    return true;
  };
  while (start < buf.length) {
    const end = buf.indexOf(NEWLINE, start);
    if (end < 0) break;
    const line = buf.toString('utf8', start, end);
    if (line.length > 0) {
      const rec = parseRecord(line);
      if (!rec || !take(rec)) damagedLines++;
    }
    start = end + 1;
    goodLength = start;
  }
  let tornBytes = buf.length - start;
  if (tornBytes > 0) {
    // Cut just before its newline: the record is whole, only the newline is missing.
    const rec = parseRecord(buf.toString('utf8', start));
    if (rec && take(rec)) {
      goodLength = buf.length;
      tornBytes = 0;
    }
  }
  return { entries, tornBytes, damagedLines, goodLength };
}

export class AppendLog<T extends object> {
  private constructor(
    readonly path: string,
    private fh: FileHandle | undefined,
    private next: number,
    private needsNewline: boolean,
    /** File length up to the last durable record: a failed append is cut back to it. */
    private length: number,
  ) {}

  /**
   * Opens `path` for appending (creating it with `mode`), repairing a torn last line first. The
   * records read are returned once, with what the repair found.
   */
  static async open<T extends object>(path: string, opts: { mode?: number } = {}): Promise<{ log: AppendLog<T> } & LogReadResult<T>> {
    const read = await readLog<T>(path);
    const fh = await open(path, 'a+', opts.mode ?? 0o600);
    try {
      const { size } = await fh.stat();
      if (size > read.goodLength) {
        await fh.truncate(read.goodLength);
        await fh.sync();
      }
      let needsNewline = false;
      if (read.goodLength > 0) {
        const last = Buffer.alloc(1);
        await fh.read(last, 0, 1, read.goodLength - 1);
        needsNewline = last[0] !== NEWLINE;
      }
      const next = (read.entries.at(-1)?.lsn ?? -1) + 1;
      return { log: new AppendLog<T>(path, fh, next, needsNewline, read.goodLength), ...read };
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  /** The sequence number the next appended record gets. */
  get nextLsn(): number {
    return this.next;
  }

  /**
   * Appends the records durably (one write, one fsync) and returns their sequence numbers.
   * Concurrent calls are taken one after the other, so numbers never collide.
   */
  append(values: readonly T[]): Promise<number[]> {
    const run = this.queue.then(() => this.appendNow(values));
    this.queue = run.then(() => undefined, () => undefined);
    return run;
  }

  private queue: Promise<void> = Promise.resolve();

  private async appendNow(values: readonly T[]): Promise<number[]> {
    const fh = this.fh;
    if (!fh) throw new Error(`log ${this.path} is closed`);
    if (values.length === 0) return [];
    const lsns = values.map((_, i) => this.next + i);
    const text = values.map((v, i) => JSON.stringify(Object.assign({ lsn: lsns[i] }, v, { lsn: lsns[i] }))).join('\n') + '\n';
    const bytes = Buffer.from(this.needsNewline ? `\n${text}` : text);
    try {
      await fh.write(bytes, 0, bytes.length, this.length);
      await fh.sync();
    } catch (e) {
      // A partial write (full disk) must not stay in front of the next append.
      await fh.truncate(this.length).catch(() => {
        this.fh = undefined;
        void fh.close().catch(() => undefined);
      });
      throw e;
    }
    this.length += bytes.length;
    this.needsNewline = false;
    this.next += values.length;
    return lsns;
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close();
  }
}
