/**
 * fsync a directory so that renames and creations inside it are durable: the one copy every
 * store in every package uses (gateway store and keystore, broker journal and registry).
 */
import { open } from 'node:fs/promises';

/** fsync a directory so that renames and creations inside it are durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
