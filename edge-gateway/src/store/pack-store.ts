/**
 * The gateway's local store of sealed batches: one pack file per flush (protocol's batch-pack),
 * written to a temporary name, fsynced, atomically renamed to store/packs/{SHA-256 of the pack}.vgp,
 * and the directory fsynced. One fsync per flush instead of one per batch is what lets a gateway
 * seal thousands of batches a second on an ordinary disk; every batch keeps its own id and can be
 * checked on its own.
 */
import { open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodePack, parsePack, type PackEntry } from '@vitalgate/protocol';
import { ensureDir, writeFileAtomic } from '@vitalgate/protocol/durable';

const PACK_RE = /^([0-9a-f]{64})\.vgp$/;

export interface StoredBatch { id: string; pack: string; offset: number; length: number }

export class PackStore {
  constructor(readonly root: string) {}

  get packsDir(): string {
    return join(this.root, 'packs');
  }

  packPath(pack: string): string {
    if (!/^[0-9a-f]{64}$/.test(pack)) throw new Error(`not a pack id: ${pack}`);
    return join(this.packsDir, `${pack}.vgp`);
  }

  /** Stores the batches as one pack; resolves once the pack and its directory entry are durable. */
  async putMany(items: ReadonlyArray<{ id: string; bytes: Uint8Array }>): Promise<StoredBatch[]> {
    if (items.length === 0) return [];
    const { bytes, entries, id: pack } = encodePack(items.map((i) => i.bytes));
    await ensureDir(this.packsDir);
    await writeFileAtomic(this.packPath(pack), bytes, { mode: 0o644, syncDir: true });
    return items.map((it, k) => ({ id: it.id, pack, ...(entries[k] as PackEntry) }));
  }

  /** Every pack id, found by listing the directory rather than trusting any index. */
  async packs(): Promise<string[]> {
    try {
      return (await readdir(this.packsDir)).map((f) => PACK_RE.exec(f)?.[1]).filter((x): x is string => x !== undefined).sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }

  async readPack(pack: string): Promise<Uint8Array> {
    return new Uint8Array(await readFile(this.packPath(pack)));
  }

  /**
   * Byte ranges of one pack (the batch index's offset and length of each batch), without reading
   * the rest of it, unless most of the pack is wanted anyway. A range past the end comes back short.
   */
  async readRanges(pack: string, ranges: ReadonlyArray<{ offset: number; length: number }>): Promise<Uint8Array[]> {
    const fh = await open(this.packPath(pack), 'r');
    try {
      const { size } = await fh.stat();
      const wanted = ranges.reduce((n, r) => n + r.length, 0);
      if (wanted * 2 >= size) {
        const all = new Uint8Array(await fh.readFile());
        return ranges.map((r) => all.subarray(r.offset, r.offset + r.length));
      }
      return await Promise.all(ranges.map(async (r) => {
        const buf = new Uint8Array(r.length);
        const { bytesRead } = await fh.read(buf, 0, r.length, r.offset);
        return buf.subarray(0, bytesRead);
      }));
    } finally {
      await fh.close();
    }
  }

  /** The batches in a pack, or why it cannot be split. */
  static split(bytes: Uint8Array): ReturnType<typeof parsePack> {
    return parsePack(bytes);
  }
}

/** Where an index record says a batch is stored. */
export interface StoredRange { pack: string; offset: number; bytes: number }

/**
 * The stored bytes of each record, pack by pack (in the order the records first name them), each
 * pack opened once and only the records' byte ranges read: `slices[i]` belongs to `records[i]`,
 * or `error` says why the pack could not be read.
 */
export async function* readStoredRanges<R extends StoredRange>(store: PackStore, records: readonly R[]): AsyncGenerator<{ pack: string; records: R[]; slices?: Uint8Array[]; error?: NodeJS.ErrnoException }> {
  const byPack = new Map<string, R[]>();
  for (const r of records) {
    const list = byPack.get(r.pack);
    if (list) list.push(r);
    else byPack.set(r.pack, [r]);
  }
  for (const [pack, recs] of byPack) {
    try {
      yield { pack, records: recs, slices: await store.readRanges(pack, recs.map((r) => ({ offset: r.offset, length: r.bytes }))) };
    } catch (e) {
      yield { pack, records: recs, error: e as NodeJS.ErrnoException };
    }
  }
}
