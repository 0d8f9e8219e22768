/**
 * Content-addressed local store of sealed batches: a batch lives at store/{id[0..2]}/{id}, where id
 * is the SHA-256 of its bytes. Writing the same batch twice is harmless, and a reader can check any
 * file against its own name.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import pMap from 'p-map';
import { ensureDir, fsyncDir, writeFileAtomic } from './durable-fs.js';

const ID_RE = /^[0-9a-f]{64}$/;

export class LocalObjectStore {
  constructor(readonly root: string) {}

  pathOf(id: string): string {
    if (!ID_RE.test(id)) throw new Error(`not a batch id: ${id}`);
    return join(this.root, id.slice(0, 2), id);
  }

  /**
   * Stores many batches durably: each file is written and fsynced (in parallel, bounded), renamed
   * into place, then each touched directory is fsynced once. Resolves only when all are durable.
   * Ids are trusted to be the SHA-256 of the bytes (sealBatch computed them); readers re-check.
   */
  async putMany(items: ReadonlyArray<{ id: string; bytes: Uint8Array }>, parallelism = 32): Promise<void> {
    const dirs = new Set<string>();
    for (const it of items) dirs.add(join(this.root, it.id.slice(0, 2)));
    const created = await Promise.all([...dirs].map(async (d) => {
      const existed = await stat(d).then(() => true, () => false);
      if (!existed) await ensureDir(d);
      return existed ? null : d;
    }));
    await pMap(items, (it) => writeFileAtomic(this.pathOf(it.id), it.bytes, { mode: 0o644 }), { concurrency: parallelism });
    await Promise.all([...dirs].map((d) => fsyncDir(d)));
    if (created.some((d) => d !== null)) await fsyncDir(this.root);
  }

  async get(id: string): Promise<Uint8Array> {
    return new Uint8Array(await readFile(this.pathOf(id)));
  }

  /** Every stored batch id, found by walking the store rather than trusting any index. */
  async list(): Promise<string[]> {
    const out: string[] = [];
    let shards: string[];
    try {
      shards = await readdir(this.root);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return out;
      throw e;
    }
    for (const shard of shards.sort()) {
      if (!/^[0-9a-f]{2}$/.test(shard)) continue;
      for (const f of (await readdir(join(this.root, shard))).sort()) if (ID_RE.test(f)) out.push(f);
    }
    return out;
  }
}
