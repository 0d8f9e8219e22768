/**
 * One contract suite that every object store passes: the local filesystem (storage/local-store.test.ts)
 * and S3 (a real s3rver on loopback, integration/storage/s3-store.test.ts), with the helpers both use.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { ObjectStore } from '../../src/index.js';


/** Fixed width, so ascending key order is unambiguous (see s3rver's listing order in test-support/src/s3.ts). */
export const keyN = (prefix: string, n: number): string => `${prefix}k${String(n).padStart(5, '0')}`;
export const bytesOf = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));

let namespaces = 0;
/** Each test writes under its own prefix, so tests sharing a store do not see each other. */
export const fresh = (): string => `ns${process.pid}-${++namespaces}/`;

export async function inParallel<T>(items: T[], n: number, f: (x: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: n }, async () => { while (i < items.length) await f(items[i++]!); }));
}

/** All keys under `prefix`, `page` at a time, each page starting after the last key of the one before. */
export async function listAll(store: ObjectStore, prefix: string, page: number): Promise<string[]> {
  const out: string[] = [];
  for (let after: string | undefined; ;) {
    const keys = await store.list(prefix, after, page);
    assert.ok(keys.length <= page);
    out.push(...keys);
    if (keys.length < page) return out;
    after = keys.at(-1);
  }
}

export interface Backend {
  setUp(): Promise<void>;
  store(): ObjectStore;
  tearDown(): Promise<void>;
}

export function objectStoreContract(name: string, backend: Backend): void {
  describe(`object store contract: ${name}`, function () {
    this.timeout(60_000);
    before(() => backend.setUp());
    after(() => backend.tearDown());

    it('stores new bytes exactly and reports them created', async () => {
      const s = backend.store();
      const ns = fresh();
      const all256 = new Uint8Array(256).map((_, i) => i);
      const big = new Uint8Array(randomBytes(1024 * 1024 + 7));
      assert.equal(await s.put(`${ns}all256`, all256), true);
      assert.equal(await s.put(`${ns}big`, big), true);
      assert.deepEqual(await s.get(`${ns}all256`), all256);
      assert.deepEqual(await s.get(`${ns}big`), big);
    });

    it('never rewrites an object: the same key again is false and the first bytes stay', async () => {
      const s = backend.store();
      const key = `${fresh()}batch`;
      assert.equal(await s.put(key, bytesOf('first')), true);
      assert.equal(await s.put(key, bytesOf('first')), false, 'the same bytes again');
      assert.equal(await s.put(key, bytesOf('different and longer')), false, 'different bytes');
      assert.equal(await s.put(key, new Uint8Array(0)), false, 'empty bytes');
      assert.deepEqual(await s.get(key), bytesOf('first'));
    });

    it('answers undefined for a missing object and [] for an empty prefix', async () => {
      const s = backend.store();
      const ns = fresh();
      assert.equal(await s.get(`${ns}nothing`), undefined);
      assert.deepEqual(await s.list(`${ns}none/`, undefined, 10), []);
    });

    it('lists keys under a prefix in ascending order, after a key, at most a limit', async () => {
      const s = backend.store();
      const ns = fresh();
      const keys = Array.from({ length: 30 }, (_, i) => keyN(`${ns}p1/`, i));
      const shuffled = [...keys].sort(() => Math.random() - 0.5);
      await inParallel(shuffled, 8, async (k) => { assert.equal(await s.put(k, bytesOf(k)), true); });
      // Neighbours that share characters with the prefix must not leak into the listing.
      await s.put(keyN(`${ns}p10/`, 0), bytesOf('x'));
      await s.put(`${ns}p0`, bytesOf('x'));
      await s.put(`${ns}p2/k00000`, bytesOf('x'));

      const p = `${ns}p1/`;
      assert.deepEqual(await s.list(p, undefined, 100), keys);
      assert.deepEqual(await s.list(p, undefined, 7), keys.slice(0, 7));
      assert.deepEqual(await s.list(p, keys[9], 5), keys.slice(10, 15));
      assert.deepEqual(await s.list(p, keys[29], 5), []);
      assert.deepEqual(await s.list(p, `${p}k00009x`, 3), keys.slice(10, 13), 'after need not be a key that exists');
      assert.deepEqual(await s.list(p, `${ns}a`, 3), keys.slice(0, 3), 'after before the prefix');
      assert.deepEqual(await s.list(p, `${ns}q`, 3), [], 'after beyond the prefix');
      assert.deepEqual(await s.list(p, undefined, 0), []);
      assert.deepEqual(await listAll(s, p, 7), keys);
      // Every depth below the prefix, as S3 lists without a delimiter (rebuilding a catalog walks `batches/`).
      assert.deepEqual(await listAll(s, ns, 7), [`${ns}p0`, ...keys, keyN(`${ns}p10/`, 0), `${ns}p2/k00000`].sort());
      await assert.rejects(s.list(`${ns}p1`, undefined, 10), /prefix ends with "\/"/);
    });

    it('pages through more than 1000 keys (one S3 listing page)', async function () {
      this.timeout(120_000);
      const s = backend.store();
      const p = `${fresh()}many/`;
      const keys = Array.from({ length: 1100 }, (_, i) => keyN(p, i));
      await inParallel(keys, 32, async (k) => { await s.put(k, bytesOf(k.slice(-5))); });
      assert.deepEqual(await s.list(p, undefined, 5000), keys, 'one call past the page size');
      assert.deepEqual(await listAll(s, p, 1000), keys, 'the route\'s largest page');
      assert.deepEqual(await s.list(p, keys[994], 10), keys.slice(995, 1005), 'across the page boundary');
    });

    it('refuses bad keys, before touching storage', async () => {
      const s = backend.store();
      const bad = ['', '/a', 'a/', 'a//b', '../x', 'a/../b', 'a/./b', '.hidden', 'a/.tmp', 'a b', 'a\nb', 'ä', 'a\\b', `${'x'.repeat(513)}`];
      for (const k of bad) {
        await assert.rejects(s.put(k, bytesOf('x')), /invalid object key|escapes/, `put ${JSON.stringify(k)}`);
        await assert.rejects(s.get(k), /invalid object key|escapes/, `get ${JSON.stringify(k)}`);
      }
      await assert.rejects(s.list('../', undefined, 10), /invalid object key|escapes/);
    });

    it('of concurrent puts of one key, exactly one is created, and its bytes are the ones kept', async () => {
      const s = backend.store();
      const ns = fresh();
      for (let round = 0; round < 5; round++) {
        const key = `${ns}race${round}`;
        const offers = Array.from({ length: 12 }, (_, i) => bytesOf(`offer ${i} `.repeat(i + 1)));
        const created = await Promise.all(offers.map((b) => s.put(key, b)));
        assert.equal(created.filter(Boolean).length, 1, `round ${round}: ${created.join(',')}`);
        assert.deepEqual(await s.get(key), offers[created.indexOf(true)]);
      }
    });

    it('describes itself', () => {
      assert.match(backend.store().describe(), /^(local|s3) /);
    });
  });
}
