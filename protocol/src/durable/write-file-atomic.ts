/**
 * Crash-safe file writes: a reader sees either the old file or the whole new one, never a torn
 * write, and once a function here resolves the bytes survive power loss.
 */
import { link, open, rename, mkdir, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join, basename } from 'node:path';
import { fsyncDir } from './fsync-dir.js';

export interface WriteFileAtomicOptions {
  /** Mode of the new file (default 0o644). */
  mode?: number;
  /** fsync the directory after the rename, so the new name is durable too. */
  syncDir?: boolean;
  /** Create the directory first (recursively) with this mode. */
  createDir?: number;
  /**
   * Never replace an existing file: the temporary file is linked into place, which fails if the
   * name exists (then nothing is written and the result is false). For content-addressed stores.
   */
  noReplace?: boolean;
}

/**
 * Writes to a temporary file, fsyncs it, renames it over `path`. The caller fsyncs the directory
 * (once per group of writes, which is what keeps many small writes fast), or passes syncDir.
 * A failure leaves no temporary file behind. Resolves to whether `path` was written (always, unless
 * noReplace found it there).
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string, opts: WriteFileAtomicOptions = {}): Promise<boolean> {
  const dir = dirname(path);
  if (opts.createDir !== undefined) await mkdir(dir, { recursive: true, mode: opts.createDir });
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
  let written = true;
  if (opts.noReplace) {
    try {
      await link(tmp, path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      written = false;
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
  } else {
    try {
      await rename(tmp, path);
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      throw e;
    }
  }
  if (opts.syncDir) await fsyncDir(dir);
  return written;
}

export async function ensureDir(dir: string, mode = 0o755): Promise<void> {
  await mkdir(dir, { recursive: true, mode });
}
