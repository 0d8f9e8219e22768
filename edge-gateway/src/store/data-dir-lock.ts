/**
 * One writer per data directory. Two gateways (or a gateway and `keys recover`) on one directory
 * would both enrol a patient, and the second master secret would overwrite the first: every batch
 * sealed under the first would be lost for good.
 *
 * The lock is `{data-dir}/lock`, taken with the shared directory lock (@vitalgate/protocol/durable:
 * pid, process start time, purpose; a dead or reused pid is stale and taken over).
 */
import { join } from 'node:path';
import { DirLock, readLockFile, type LockInfo } from '@vitalgate/protocol/durable';

export { isLockLive, processStartTime, type LockInfo } from '@vitalgate/protocol/durable';

export class DataDirLockedError extends Error {
  constructor(readonly dir: string, readonly holder: LockInfo) {
    super(`data directory ${dir} is in use by pid ${holder.pid} (vitalgate ${holder.purpose}, since ${new Date(holder.since).toISOString()}); stop it first, or use another --data-dir`);
  }
}

export const lockPath = (dir: string): string => join(dir, 'lock');

export const readLock = (dir: string): Promise<LockInfo | undefined> => readLockFile(lockPath(dir));

export class DataDirLock {
  private constructor(private readonly lock: DirLock) {}

  get dir(): string {
    return this.lock.dir;
  }

  get info(): LockInfo {
    return this.lock.info;
  }

  /** Takes the directory for this process, taking over a stale lock; throws DataDirLockedError if it is held. */
  static async acquire(dir: string, purpose: string): Promise<DataDirLock> {
    return new DataDirLock(await DirLock.acquire(dir, purpose, { file: 'lock', busy: (d, holder) => new DataDirLockedError(d, holder) }));
  }

  release(): Promise<void> {
    return this.lock.release();
  }
}
