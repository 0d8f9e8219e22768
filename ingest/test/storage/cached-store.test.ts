/**
 * The in-memory cache of small immutable objects (storage/cached-store.ts), over the local store:
 * the object store contract with every key cached, and what the cache must never do: serve bytes
 * other than the stored ones, keep a missing object missing, or hold more than its budget.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { LocalObjectStore } from '../../src/index.js';
import { CachedStore } from '../../src/storage/cached-store.js';
import { objectStoreContract } from './object-store-contract.js';

let contractDir: string;
let contractStore: CachedStore;
objectStoreContract('local filesystem behind an all-keys memory cache', {
  async setUp() {
    contractDir = await mkdtemp(join(tmpdir(), 'vg-cached-'));
    contractStore = new CachedStore(new LocalObjectStore(contractDir), [{ prefix: '', budget: 1 << 20 }]);
  },
  store: () => contractStore,
  tearDown: () => rm(contractDir, { recursive: true, force: true }),
});

describe('storage: CachedStore', () => {
  let dir: string;
  let inner: LocalObjectStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vg-cached-'));
    inner = new LocalObjectStore(dir);
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('serves an envelope it wrote from memory, as a copy; batches always from storage', async () => {
    const store = new CachedStore(inner);
    const env = Uint8Array.from({ length: 150 }, (_, i) => i);
    assert.equal(await store.put('envelopes/0xC/0xP/hr/7', env), true);
    env.fill(0); // the caller reuses its buffer: the cache kept its own copy
    const a = await store.get('envelopes/0xC/0xP/hr/7');
    assert.deepEqual(a, Uint8Array.from({ length: 150 }, (_, i) => i));
    a!.fill(9); // nor can a reader change what the next one gets
    assert.deepEqual(await store.get('envelopes/0xC/0xP/hr/7'), Uint8Array.from({ length: 150 }, (_, i) => i));
    assert.equal(store.hits, 2);
    await store.put('batches/0xP/abc', Uint8Array.of(1, 2, 3));
    assert.deepEqual(await store.get('batches/0xP/abc'), Uint8Array.of(1, 2, 3));
    assert.equal(store.hits, 2, 'a batch is never served from memory');
    assert.deepEqual(store.usage(), [{ prefix: 'envelopes/', objects: 1, bytes: 150 }]);
  });

  it('keeps its own copy of a Buffer from Node\'s shared pool (as fastify hands bodies over), not a view into the pool', async () => {
    const store = new CachedStore(inner);
    const body = Buffer.from('e'.repeat(150)); // small: a slice of the 8 KiB pool
    assert.ok(body.buffer.byteLength > body.byteLength, 'the test needs a pooled Buffer');
    await store.put('envelopes/0xC/0xP/spo2/1', body);
    body.fill(0x41);
    const got = await store.get('envelopes/0xC/0xP/spo2/1');
    assert.equal(Buffer.from(got!).toString(), 'e'.repeat(150));
    assert.equal(got!.buffer.byteLength, 150, 'a copy the size of the object');
    assert.equal(store.hits, 1);
  });

  it('never caches a missing object, nor bytes whose PUT found the key taken', async () => {
    const store = new CachedStore(inner);
    const other = new CachedStore(new LocalObjectStore(dir)); // another instance on the same storage
    assert.equal(await store.get('envelopes/k'), undefined);
    await other.put('envelopes/k', Uint8Array.of(1));
    assert.deepEqual(await store.get('envelopes/k'), Uint8Array.of(1), 'written meanwhile: found');
    assert.equal(await other.put('envelopes/j', Uint8Array.of(5)), true);
    assert.equal(await store.put('envelopes/j', Uint8Array.of(6)), false);
    assert.deepEqual(await store.get('envelopes/j'), Uint8Array.of(5), 'the stored bytes, not the refused ones');
  });

  it('property: any sequence of puts and gets reads what storage holds, within the budget', async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(fc.record({ op: fc.constantFrom('put', 'get'), key: fc.integer({ min: 0, max: 11 }), size: fc.integer({ min: 1, max: 400 }), fill: fc.integer({ min: 0, max: 255 }) }), { maxLength: 60 }),
      async (ops) => {
        const d = await mkdtemp(join(tmpdir(), 'vg-cached-p-'));
        try {
          const store = new CachedStore(new LocalObjectStore(d), [{ prefix: 'envelopes/', budget: 1000, maxObject: 300 }]);
          const model = new Map<string, Uint8Array>();
          for (const o of ops) {
            const key = `envelopes/${o.key}`;
            if (o.op === 'put') {
              const bytes = new Uint8Array(o.size).fill(o.fill);
              assert.equal(await store.put(key, bytes), !model.has(key));
              if (!model.has(key)) model.set(key, bytes);
            } else {
              assert.deepEqual(await store.get(key), model.get(key));
            }
            assert.ok(store.usage()[0]!.bytes <= 1000);
          }
        } finally {
          await rm(d, { recursive: true, force: true });
        }
      },
    ), { numRuns: 60 });
  });
});
