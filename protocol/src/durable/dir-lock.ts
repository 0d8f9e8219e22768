/**
 * One writer per directory: the one directory lock every store uses (the gateway's data
 * directory, the broker's persistence directory).
 *
 * The lock is a file in the directory (`lock` by default), created exclusively, holding the
 * owner's pid, the process start time the kernel reports for that pid (/proc/<pid>/stat, field
 * 22) and what it runs. A lock whose pid is gone, or whose pid now belongs to a process that
 * started at another time (the pid was reused), is stale and is taken over. Comparing the start
 * time is what keeps a reused pid from either holding a directory forever or receiving a signal
 * meant for the owner. A lock file holding only a pid (an older format) is read with no start time.
 */
import { open, readFile, unlink, mkdir } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface LockInfo {
  pid: number;
  /** Kernel start time of `pid` in clock ticks since boot, or null where /proc is not available. */
  startTime: number | null;
  /** What holds it: 'gateway', 'run', 'keys recover', … */
  purpose: string;
  since: number;
}

export class DirLockedError extends Error {
  constructor(readonly dir: string, readonly holder: LockInfo, message?: string) {
    super(message ?? `directory ${dir} is in use by pid ${holder.pid} (${holder.purpose}, since ${new Date(holder.since).toISOString()})`);
  }
}

export interface DirLockOptions {
  /** Name of the lock file in the directory (default 'lock'). */
  file?: string;
  /** Mode the directory is created with when missing (default 0o700). */
  dirMode?: number;
  /** The error thrown when a live process holds the lock (default DirLockedError). */
  busy?: (dir: string, holder: LockInfo) => Error;
}

export const DEFAULT_LOCK_FILE = 'lock';

/** The start time of a live process, or undefined when no such process exists. */
export function processStartTime(pid: number): number | null | undefined {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return undefined;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const t = Number(fields[19]);
    return Number.isFinite(t) ? t : null;
  } catch {
    return null;
  }
}

/** Whether the process that wrote `info` is still the one running under its pid. */
export function isLockLive(info: LockInfo): boolean {
  const now = processStartTime(info.pid);
  if (now === undefined) return false;
  return info.startTime === null || now === null || now === info.startTime;
}

/** Reads the lock file at `path`: undefined when there is none, pid 0 when it is torn. */
export async function readLockFile(path: string): Promise<LockInfo | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const v = JSON.parse(text) as Partial<LockInfo> | number;
    if (typeof v === 'number') {
      if (Number.isSafeInteger(v) && v > 0) return { pid: v, startTime: null, purpose: 'unknown', since: 0 };
    } else if (v !== null && typeof v.pid === 'number' && Number.isInteger(v.pid) && v.pid > 0) {
      return { pid: v.pid, startTime: typeof v.startTime === 'number' ? v.startTime : null, purpose: String(v.purpose ?? 'unknown'), since: Number(v.since ?? 0) };
    }
  } catch { /* torn by a crash while it was written: nobody holds it */ }
  return { pid: 0, startTime: null, purpose: 'torn lock file', since: 0 };
}

export class DirLock {
  private released = false;
  private constructor(readonly dir: string, readonly path: string, readonly info: LockInfo) {}

  /** Takes the directory for this process, taking over a stale lock; throws (opts.busy) if it is held. */
  static async acquire(dir: string, purpose: string, opts: DirLockOptions = {}): Promise<DirLock> {
    const path = join(dir, opts.file ?? DEFAULT_LOCK_FILE);
    await mkdir(dir, { recursive: true, mode: opts.dirMode ?? 0o700 });
    const info: LockInfo = { pid: process.pid, startTime: processStartTime(process.pid) ?? null, purpose, since: Date.now() };
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const fh = await open(path, 'wx', 0o600);
        try {
          await fh.writeFile(JSON.stringify(info));
          await fh.sync();
        } finally {
          await fh.close();
        }
        return new DirLock(dir, path, info);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const holder = await readLockFile(path);
      if (holder && holder.pid > 0 && isLockLive(holder)) throw opts.busy ? opts.busy(dir, holder) : new DirLockedError(dir, holder);
      // Stale (dead pid, reused pid, or torn): remove it and try again; a racing taker gets EEXIST.
      await unlink(path).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') throw e;
      });
    }
    throw new Error(`could not take the lock on ${dir}: it keeps changing hands`);
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    const now = await readLockFile(this.path).catch(() => undefined);
    // Only our own lock is ours to remove.
    if (now && now.pid === this.info.pid && now.since === this.info.since) await unlink(this.path).catch(() => undefined);
  }
}
