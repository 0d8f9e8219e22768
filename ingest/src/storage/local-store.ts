/**
 * Object storage on the local filesystem: each object is written to a temporary file, fsynced,
 * linked into place (which fails if the name exists, so an object is never replaced), and its
 * directory fsynced. A reader therefore sees no object or the whole of it.
 */
import type { Dirent } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fsyncDir, writeFileAtomic } from '@vitalgate/protocol/durable';
import type { ObjectStore } from './object-store.js';

const KEY_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/;

export class LocalObjectStore implements ObjectStore {
  readonly root: string;
  private readonly dirSyncs = new Map<string, { running?: Promise<void>; queued?: Promise<void> }>();
  constructor(root: string) {
    this.root = resolve(root);
  }

  private pathOf(key: string): string {
    if (!KEY_RE.test(key) || key.length > 512) throw new Error(`invalid object key ${JSON.stringify(key.slice(0, 80))}`);
    const p = join(this.root, ...key.split('/'));
    if (!p.startsWith(this.root + sep)) throw new Error('object key escapes the store');
    return p;
  }

  async put(key: string, bytes: Uint8Array): Promise<boolean> {
    const path = this.pathOf(key);
    const created = await writeFileAtomic(path, bytes, { mode: 0o600, createDir: 0o700, noReplace: true });
    await this.syncDir(dirname(path));
    return created;
  }

  /**
   * fsyncs `dir` so that a name linked into it before this call is durable. Concurrent callers
   * share syncs (group commit): a bundle of 64 batches for one patient costs a couple of directory
   * fsyncs, not 64. A sync already queued but not started covers every caller that arrives before
   * it starts.
   */
  private syncDir(dir: string): Promise<void> {
    let st = this.dirSyncs.get(dir);
    if (!st) {
      st = {};
      this.dirSyncs.set(dir, st);
    }
    const s = st;
    if (s.queued) return s.queued;
    const queued: Promise<void> = (s.running ?? Promise.resolve()).catch(() => undefined).then(async () => {
      s.queued = undefined;
      s.running = queued;
      try {
        await fsyncDir(dir);
      } finally {
        if (s.running === queued) s.running = undefined;
        if (!s.running && !s.queued) this.dirSyncs.delete(dir);
      }
    });
    s.queued = queued;
    return queued;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      return new Uint8Array(await readFile(this.pathOf(key)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  async list(prefix: string, after: string | undefined, limit: number): Promise<string[]> {
    if (!prefix.endsWith('/')) throw new Error('a listing prefix ends with "/"');
    let entries: Dirent[];
    try {
      // Every object at any depth below the prefix, as S3 lists it (no delimiter).
      entries = await readdir(this.pathOf(prefix.slice(0, -1)), { recursive: true, withFileTypes: true });
    } catch (e) {
      // ENOTDIR: the prefix names an object; nothing lies below it, as on S3.
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return [];
      throw e;
    }
    const base = this.pathOf(prefix.slice(0, -1));
    const keys: string[] = [];
    for (const d of entries) {
      // Temporary files start with "." and are never listed.
      if (!d.isFile() || d.name.startsWith('.')) continue;
      // `parentPath` from Node 20.12 (`path` before it, deprecated since).
      const parent = (d as Dirent & { parentPath?: string }).parentPath ?? d.path;
      const key = prefix + relative(base, join(parent, d.name)).split(sep).join('/');
      if (after === undefined || key > after) keys.push(key);
    }
    return keys.sort().slice(0, limit);
  }

  describe(): string {
    return `local ${this.root}`;
  }
}
