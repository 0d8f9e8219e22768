/**
 * The gateway's local store of sealed batches: one pack file per flush (protocol's batch-pack),
 * written to a temporary name, fsynced, atomically renamed to store/packs/{SHA-256 of the pack}.vgp,
 * and the directory fsynced. One fsync per flush instead of one per batch is what lets a gateway
 * seal thousands of batches a second on an ordinary disk; every batch keeps its own id and can be
 * checked on its own.
 */
import { readdir, readFile } from 'node:fs/promises';
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

  /** The batches in a pack, or why it cannot be split. */
  static split(bytes: Uint8Array): ReturnType<typeof parsePack> {
    return parsePack(bytes);
  }
}
