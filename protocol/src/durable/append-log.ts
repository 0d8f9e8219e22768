/**
 * The append-only log, the one copy every store uses.
 *
 * `AppendFile` is the writer underneath: appends go to the end of a file with group commit (what
 * is appended during one event-loop turn, and while a write is in flight, goes out in a single
 * write + fsync), and a caller may wait for its bytes to be on disk or not. The broker's journal
 * frames its records with it.
 *
 * `AppendLog` is the log behind the gateway's index, epoch log, anchor log, envelope and upload
 * logs: JSON lines, one record per line, each carrying its log sequence number `lsn` first:
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

export interface AppendFileOptions {
  /** How an append is made durable: fsync (default), fdatasync, or not at all (a process crash is survived, a power cut is not). */
  sync?: 'fsync' | 'datasync' | 'none';
  /**
   * After a failed write: 'truncate' (default) cuts the file back to its last good length and keeps
   * taking appends; 'stop' fails this and every later append with describeError's error.
   */
  onError?: 'truncate' | 'stop';
  describeError?: (e: Error) => Error;
  /** Called after each write (successful or not). */
  onFlushed?: () => void;
}

/** Writes all of `buf` at `position`. */
export async function writeFully(fh: FileHandle, buf: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    done += bytesWritten;
  }
}

/** Appends bytes to a file with group commit; runs exclusive tasks (a file switch) between writes. */
export class AppendFile {
  #fh: FileHandle;
  #size: number;
  #pending: Uint8Array[] = [];
  #waiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  #tasks: Array<() => Promise<void>> = [];
  #running = false;
  #idle: Array<() => void> = [];
  #failed: Error | undefined;
  #closed = false;
  readonly sync: 'fsync' | 'datasync' | 'none';

  constructor(fh: FileHandle, size: number, readonly opts: AppendFileOptions = {}) {
    this.#fh = fh;
    this.#size = size;
    this.sync = opts.sync ?? 'fsync';
  }

  /** Bytes in the file up to the last whole append. */
  get size(): number {
    return this.#size;
  }

  /** Set once appends can no longer succeed ('stop' after a failed write, or a file that could not be cut back). */
  get failed(): Error | undefined {
    return this.#failed;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get handle(): FileHandle {
    return this.#fh;
  }

  /** Queues bytes; with `durable` (default), the promise resolves once they are written (and synced). */
  append(bytes: Uint8Array, durable?: true): Promise<void>;
  append(bytes: Uint8Array, durable: boolean): Promise<void> | undefined;
  append(bytes: Uint8Array, durable = true): Promise<void> | undefined {
    if (this.#failed) return durable ? Promise.reject(this.#failed) : undefined;
    this.#pending.push(bytes);
    const p = durable ? new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject })) : undefined;
    this.#kick();
    return p;
  }

  /** Runs `task` with no write in progress. */
  exclusive(task: () => Promise<void>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#tasks.push(() => task().then(resolve, reject));
      this.#kick();
    });
  }

  /** Resolves when everything queued so far is written. */
  drain(): Promise<void> {
    if (!this.#running && this.#pending.length === 0 && this.#tasks.length === 0) return Promise.resolve();
    return new Promise((r) => this.#idle.push(r));
  }

  /** Switches to another file (in an exclusive task); returns the old handle for the caller to close. */
  replaceFile(fh: FileHandle, size: number): FileHandle {
    const old = this.#fh;
    this.#fh = fh;
    this.#size = size;
    return old;
  }

  /** Writes what is queued, then closes the file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.drain();
    this.#closed = true;
    this.#failed ??= new Error('closed');
    await this.#fh.close();
  }

  #kick(): void {
    if (this.#running) return;
    this.#running = true;
    // One turn's worth of appends per write: a socket chunk of publishes lands in one write.
    setImmediate(() => void this.#run());
  }

  async #run(): Promise<void> {
    while (this.#pending.length || this.#tasks.length) {
      const task = this.#tasks.shift();
      if (task) {
        await task();
        continue;
      }
      const bufs = this.#pending;
      const waiters = this.#waiters;
      this.#pending = [];
      this.#waiters = [];
      if (this.#failed) {
        for (const w of waiters) w.reject(this.#failed);
        continue;
      }
      const fh = this.#fh;
      try {
        const buf = bufs.length === 1 ? bufs[0]! : Buffer.concat(bufs);
        await writeFully(fh, buf, this.#size);
        if (this.sync === 'fsync') await fh.sync();
        else if (this.sync === 'datasync') await fh.datasync();
        this.#size += buf.length;
        for (const w of waiters) w.resolve();
      } catch (e) {
        if (this.opts.onError === 'stop') {
          this.#failed = this.opts.describeError?.(e as Error) ?? (e as Error);
          for (const w of waiters) w.reject(this.#failed);
        } else {
          for (const w of waiters) w.reject(e as Error);
          // A partial write (full disk) must not stay in front of the next append.
          await fh.truncate(this.#size).catch(() => {
            this.#failed = new Error('closed');
            this.#closed = true;
            void fh.close().catch(() => undefined);
          });
        }
      }
      this.opts.onFlushed?.();
    }
    this.#running = false;
    for (const r of this.#idle.splice(0)) r();
  }
}

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
    private readonly file: AppendFile,
    private next: number,
    private needsNewline: boolean,
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
      // File length up to the last durable record: a failed append is cut back to it.
      return { log: new AppendLog<T>(path, new AppendFile(fh, read.goodLength, { sync: 'fsync', onError: 'truncate' }), next, needsNewline), ...read };
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
    if (this.file.closed) throw new Error(`log ${this.path} is closed`);
    if (values.length === 0) return [];
    const lsns = values.map((_, i) => this.next + i);
    const text = values.map((v, i) => JSON.stringify(Object.assign({ lsn: lsns[i] }, v, { lsn: lsns[i] }))).join('\n') + '\n';
    await this.file.append(Buffer.from(this.needsNewline ? `\n${text}` : text));
    this.needsNewline = false;
    this.next += values.length;
    return lsns;
  }

  async close(): Promise<void> {
    await this.queue;
    await this.file.close();
  }
}
