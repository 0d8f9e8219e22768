/**
 * Node-only durable file primitives, the one copy every store in every package uses: atomic file
 * writes, directory fsync, the directory lock and the append-only log. A subpath of its own
 * (`@vitalgate/protocol/durable`) so the browser bundle, which imports the main entry, never
 * pulls in node:fs.
 */
export { fsyncDir } from './fsync-dir.js';
export { writeFileAtomic, ensureDir, type WriteFileAtomicOptions } from './write-file-atomic.js';
export {
  DirLock, DirLockedError, DEFAULT_LOCK_FILE, isLockLive, processStartTime, readLockFile,
  type DirLockOptions, type LockInfo,
} from './dir-lock.js';
export {
  AppendFile, AppendLog, readLog, writeFully,
  type AppendFileOptions, type LogEntry, type LogReadResult,
} from './append-log.js';
