/**
 * One broker per persistence directory: a `LOCK` file taken with the shared directory lock
 * (@vitalgate/protocol/durable: pid and process start time; a dead or reused pid is stale and is
 * taken over), plus the directories this process has open, so a second open here is refused too.
 */
import { DirLock } from '@vitalgate/protocol/durable';

/** Directories this process has open. */
const openDirs = new Set<string>();

export async function lockPersistenceDir(dir: string): Promise<DirLock> {
  if (openDirs.has(dir)) throw new Error(`${dir} is already open in this process`);
  const lock = await DirLock.acquire(dir, 'broker', {
    file: 'LOCK',
    busy: (d, holder) => new Error(`${d} is in use by another broker (pid ${holder.pid}); one broker per persistence directory`),
  });
  openDirs.add(dir);
  return lock;
}

export async function unlockPersistenceDir(lock: DirLock): Promise<void> {
  await lock.release();
  openDirs.delete(lock.dir);
}
