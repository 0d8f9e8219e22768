/**
 * The journal file: records framed (format.ts) and appended with group commit by the shared
 * append-only writer (@vitalgate/protocol/durable's AppendFile): records appended during one
 * event-loop turn, and those arriving while a write is in flight, go out in a single write +
 * fdatasync. A failed write fails every later append: the broker stops acknowledging rather than
 * acknowledge what is not on disk.
 *
 * Compaction is here too: the state rewritten as the shortest list of records that rebuilds it
 * (journal.tmp, fsync, rename, fsync dir), on open and online. Online compaction replays the
 * journal up to a cut point into a scratch store, writes that out while writes go on, then copies
 * the records after the cut and switches files between two writes.
 */
import { open, readFile, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { AppendFile, fsyncDir, writeFully } from '@vitalgate/protocol/durable';
import { encodeJournal, frame, parseJournal, type Rec } from './format.js';

export const JOURNAL = 'journal';

export class Journal {
  readonly file: AppendFile;

  constructor(fh: FileHandle, size: number, readonly fsync: boolean, onFlushed: () => void) {
    this.file = new AppendFile(fh, size, {
      sync: fsync ? 'datasync' : 'none',
      onError: 'stop',
      describeError: (e) => new Error(`broker journal write failed: ${e.message}`),
      onFlushed,
    });
  }

  get size(): number {
    return this.file.size;
  }

  get failed(): Error | undefined {
    return this.file.failed;
  }

  get handle(): FileHandle {
    return this.file.handle;
  }

  /** Queues a record; with `durable`, the promise resolves once it is written (and synced). */
  append(rec: Rec, durable: boolean): Promise<void> | undefined {
    return this.file.append(frame(rec), durable);
  }

  /** Resolves when everything queued so far is written. */
  drain(): Promise<void> {
    return this.file.drain();
  }
}

/** The records of the journal in `dir` (none when there is no journal yet). */
export async function readJournal(dir: string): Promise<Rec[]> {
  const buf = await readFile(join(dir, JOURNAL)).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return Buffer.alloc(0);
    throw e;
  });
  return parseJournal(buf).records;
}

/** Writes `records` as a complete journal at `path` (synced). Returns it open, and its size. */
async function writeSnapshot(path: string, records: readonly Rec[], fsync: boolean): Promise<{ fh: FileHandle; size: number }> {
  // Queued QoS 1 payloads are plaintext readings: only the broker's own user may read them.
  const fh = await open(path, 'w+', 0o600);
  await fh.chmod(0o600);
  const buf = encodeJournal(records);
  await writeFully(fh, buf, 0);
  if (fsync) await fh.datasync();
  return { fh, size: buf.length };
}

/** Replaces the journal in `dir` by `records`, atomically, and opens it for appending. */
export async function rewriteJournal(dir: string, records: readonly Rec[], fsync: boolean, onFlushed: () => void): Promise<Journal> {
  const tmp = join(dir, `${JOURNAL}.tmp`);
  const { fh, size } = await writeSnapshot(tmp, records, fsync);
  await rename(tmp, join(dir, JOURNAL));
  await fsyncDir(dir);
  return new Journal(fh, size, fsync, onFlushed);
}

async function readAt(fh: FileHandle, length: number, position: number, short: () => void): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let off = 0;
  while (off < length) {
    const { bytesRead } = await fh.read(buf, off, length - off, position + off);
    if (bytesRead === 0) {
      short();
      break;
    }
    off += bytesRead;
  }
  return buf;
}

/**
 * Online compaction of the journal `j` in `dir` while writes continue: `snapshot` turns the records
 * up to a cut point into the shortest list that rebuilds their state (replayed into a scratch
 * store); that is written to journal.tmp, then (between two writes) the records written after the
 * cut are copied after it, synced, renamed over the journal, and the journal switches to it.
 * `switched` gets the size of the snapshot part.
 */
export async function compactJournal(j: Journal, dir: string, snapshot: (records: Rec[]) => Promise<Rec[]>, switched: (snapshotSize: number) => void): Promise<void> {
  const path = join(dir, JOURNAL);
  const tmp = join(dir, `${JOURNAL}.tmp`);
  let cut = 0;
  let prefix: Buffer = Buffer.alloc(0);
  await j.file.exclusive(async () => {
    cut = j.size;
    prefix = await readAt(j.handle, cut, 0, () => undefined);
  });
  const { fh, size } = await writeSnapshot(tmp, await snapshot(parseJournal(prefix).records), j.fsync);
  try {
    await j.file.exclusive(async () => {
      const tail = await readAt(j.handle, j.size - cut, cut, () => {
        throw new Error('journal shorter than expected');
      });
      await writeFully(fh, tail, size);
      if (j.fsync) await fh.datasync();
      await rename(tmp, path);
      await fsyncDir(dir);
      const old = j.file.replaceFile(fh, size + tail.length);
      switched(size);
      await old.close();
    });
  } catch (e) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw e;
  }
}
