/**
 * Crash-safe file writes: a reader sees either the old file or the whole new one, never a torn
 * write, and once a function here resolves the bytes survive power loss.
 */
import { open, rename, mkdir, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join, basename } from 'node:path';

/** fsync a directory so that renames and creations inside it are durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Writes to a temporary file, fsyncs it, renames it over `path`. The caller fsyncs the directory
 * (once per group of writes, which is what keeps many small writes fast), or passes syncDir.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string, opts: { mode?: number; syncDir?: boolean } = {}): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', opts.mode ?? 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await fh.close();
  await rename(tmp, path);
  if (opts.syncDir) await fsyncDir(dir);
}

export async function ensureDir(dir: string, mode = 0o755): Promise<void> {
  await mkdir(dir, { recursive: true, mode });
}
