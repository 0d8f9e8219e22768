/**
 * How a rekey replaces a whole keystore directory so that a crash at any moment leaves exactly
 * the old keystore or exactly the new one. A directory cannot be replaced by one rename (rename
 * onto a non-empty directory fails), so the switch takes several steps and the state between them
 * is resolved by settleInterruptedRekey(), which Keystore.open runs first:
 *
 *   1. the new keystore is written whole into `keys.new/`, every file fsynced;
 *   2. `keys.new/rekey-complete` is written and fsynced last: the commit point;
 *   3. rename keys → keys.old; 4. rename keys.new → keys; 5. delete keys.old.
 *
 * Before the commit point the old keystore is the only complete one, so `keys.new/` is deleted.
 * After it the new one wins, and the remaining renames are replayed. Deleting `keys.old` happens
 * only once `keys` holds the new keystore, so a half-deleted `keys.old` is just removed again.
 */
import { access, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { DataDirLock, isLockLive, readLock } from '../store/data-dir-lock.js';
import { fsyncDir } from '@vitalgate/protocol/durable';

export const REKEY_COMPLETE = 'rekey-complete';

export const stagingDir = (keysDir: string): string => join(dirname(keysDir), `${basename(keysDir)}.new`);
export const retiredDir = (keysDir: string): string => join(dirname(keysDir), `${basename(keysDir)}.old`);

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

/**
 * Resolves what an interrupted rekey left next to `keysDir`: 'none' when there was nothing to do,
 * 'old' when an incomplete new keystore was discarded, 'new' when a committed one was put in place.
 *
 * Settling moves and deletes directories, so it must not run beside a live rekey: it takes the
 * data-directory lock (the keys directory's parent) unless this process already holds it (a
 * gateway or `keys recover` opens its keystore after taking the lock; the rekey itself passes
 * holdsLock). A rekey in progress in another process makes this throw DataDirLockedError.
 */
export async function settleInterruptedRekey(keysDir: string, opts: { holdsLock?: boolean } = {}): Promise<'none' | 'old' | 'new'> {
  const staged = stagingDir(keysDir);
  const retired = retiredDir(keysDir);
  if (!(await exists(staged)) && !(await exists(retired))) return 'none';
  let lock: DataDirLock | undefined;
  if (!opts.holdsLock) {
    const holder = await readLock(dirname(keysDir));
    const ours = holder !== undefined && holder.pid === process.pid && isLockLive(holder);
    if (!ours) lock = await DataDirLock.acquire(dirname(keysDir), 'keystore recovery');
  }
  try {
    return await settle(keysDir, staged, retired);
  } finally {
    await lock?.release();
  }
}

async function settle(keysDir: string, staged: string, retired: string): Promise<'old' | 'new'> {
  const parent = dirname(keysDir);
  if (await exists(staged)) {
    if (await exists(join(staged, REKEY_COMPLETE))) {
      if (await exists(keysDir)) {
        // keys is the old keystore here; a keys.old beside it can only be a leftover from an
        // earlier, finished rekey (step 5 runs after keys.new is gone).
        await rm(retired, { recursive: true, force: true });
        await rename(keysDir, retired);
      }
      await rename(staged, keysDir);
      await fsyncDir(parent);
      await rm(retired, { recursive: true, force: true });
      await fsyncDir(parent);
      return 'new';
    }
    await rm(staged, { recursive: true, force: true });
    if (!(await exists(keysDir)) && (await exists(retired))) await rename(retired, keysDir);
    await fsyncDir(parent);
    return 'old';
  }
  // No staging directory: keys.new already became keys (step 4 done), or keys.old is all that is
  // left of a keystore whose replacement never committed (not produced by the steps above, but
  // the only complete keystore there is).
  const switched = await exists(keysDir);
  if (switched) await rm(retired, { recursive: true, force: true });
  else await rename(retired, keysDir);
  await fsyncDir(parent);
  return switched ? 'new' : 'old';
}
