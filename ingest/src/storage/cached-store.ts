/**
 * An object store that keeps small objects it has just written or read in memory, so the clinician
 * API's hot reads (a patients view reads an envelope for every patient and stream, every few
 * seconds, per dashboard) do not each go to disk or S3.
 *
 * Safe only because objects are immutable (object-store.ts): once a key exists its bytes never
 * change and it is never deleted, so a cached copy can never be stale. A PUT that finds the key
 * taken is not cached (the stored bytes are the truth, not ours); a missing object is not cached
 * (it may be written next). Each prefix has its own byte budget, least recently used first out.
 */
import type { ObjectStore } from './object-store.js';

export interface CachedPrefix {
  /** Keys starting with this (e.g. "envelopes/"). */
  prefix: string;
  /** Bytes of objects kept under it, at most. */
  budget: number;
  /** Larger objects are never kept (default 16 KiB). */
  maxObject?: number;
}

/**
 * The default: key envelopes only (a day of a ward's in a few MiB). Batches are read from storage
 * every time, so bytes altered at rest show as failed at once rather than once they leave a cache.
 */
export const DEFAULT_CACHED_PREFIXES: readonly CachedPrefix[] = [
  { prefix: 'envelopes/', budget: 8 * 2 ** 20 },
];

class Lru {
  private readonly objects = new Map<string, Uint8Array>();
  private bytes = 0;
  constructor(private readonly budget: number) {}

  get(key: string): Uint8Array | undefined {
    const v = this.objects.get(key);
    // Map order is insertion order: re-inserting makes it the most recent.
    if (v) { this.objects.delete(key); this.objects.set(key, v); }
    return v;
  }

  set(key: string, v: Uint8Array): void {
    const old = this.objects.get(key);
    if (old) { this.bytes -= old.byteLength; this.objects.delete(key); }
    this.objects.set(key, v);
    this.bytes += v.byteLength;
    for (const [k, o] of this.objects) {
      if (this.bytes <= this.budget) break;
      this.objects.delete(k);
      this.bytes -= o.byteLength;
    }
  }

  get size(): number { return this.objects.size; }
  get usedBytes(): number { return this.bytes; }
}

export class CachedStore implements ObjectStore {
  private readonly caches: Array<{ prefix: string; maxObject: number; lru: Lru }>;
  hits = 0;
  misses = 0;

  constructor(private readonly inner: ObjectStore, prefixes: readonly CachedPrefix[] = DEFAULT_CACHED_PREFIXES) {
    this.caches = prefixes.map((p) => ({ prefix: p.prefix, maxObject: p.maxObject ?? 16 * 1024, lru: new Lru(p.budget) }));
  }

  private cacheFor(key: string, bytes?: number) {
    const c = this.caches.find((x) => key.startsWith(x.prefix));
    return c && (bytes === undefined || bytes <= c.maxObject) ? c.lru : undefined;
  }

  async put(key: string, bytes: Uint8Array): Promise<boolean> {
    const created = await this.inner.put(key, bytes);
    // A copy of its own (a Buffer's slice() would be a view into a shared 8 KiB pool): the
    // caller's buffer may be reused once its PUT is done.
    if (created) this.cacheFor(key, bytes.byteLength)?.set(key, new Uint8Array(bytes));
    return created;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const lru = this.cacheFor(key);
    const hit = lru?.get(key);
    if (hit) { this.hits++; return new Uint8Array(hit); }
    if (lru) this.misses++;
    const bytes = await this.inner.get(key);
    if (bytes) this.cacheFor(key, bytes.byteLength)?.set(key, new Uint8Array(bytes));
    return bytes;
  }

  list(prefix: string, after: string | undefined, limit: number): Promise<string[]> {
    return this.inner.list(prefix, after, limit);
  }

  describe(): string {
    return this.inner.describe();
  }

  /** What each prefix holds now: objects and bytes. */
  usage(): Array<{ prefix: string; objects: number; bytes: number }> {
    return this.caches.map((c) => ({ prefix: c.prefix, objects: c.lru.size, bytes: c.lru.usedBytes }));
  }
}
