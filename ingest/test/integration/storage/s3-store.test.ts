/**
 * The object store contract (storage/object-store-contract.ts) on S3: a real s3rver on loopback, in its
 * own process. Then what only S3 has: two ingest instances racing on one key, paging, bucket checks,
 * and the server going away mid-run.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startS3Server, type S3Server } from '@vitalgate/test-support';
import { S3ObjectStore, S3StoreError, type S3ObjectStoreOptions } from '../../../src/index.js';
import { bytesOf, fresh, inParallel, keyN, objectStoreContract } from '../../storage/object-store-contract.js';

// ---- S3 (s3rver on loopback) ----

const BUCKET = 'vitalgate-test';
/** Distinctive, so a test can tell it never reached a message; s3rver checks only the key id. */
const SECRET = 'not-checked-by-s3rver-Zq8xK2';
let s3dir: string;
let server: S3Server;
let s3: S3ObjectStore;
const stores: S3ObjectStore[] = [];

function s3Store(o: Partial<S3ObjectStoreOptions> = {}): S3ObjectStore {
  const st = new S3ObjectStore({
    bucket: BUCKET, endpoint: server.endpoint, forcePathStyle: true,
    credentials: { accessKeyId: server.credentials.accessKeyId, secretAccessKey: SECRET }, ...o,
  });
  stores.push(st);
  return st;
}

async function setUpS3(): Promise<void> {
  if (server) return;
  s3dir = await mkdtemp(join(tmpdir(), 'vg-s3-'));
  // With AWS's If-None-Match behaviour, so two instances racing on a key is a meaningful test.
  server = await startS3Server(join(s3dir, 'data'), { buckets: [BUCKET], conditionalWrites: true });
  s3 = await S3ObjectStore.open({ bucket: BUCKET, endpoint: server.endpoint, forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: SECRET } });
  stores.push(s3);
}

async function tearDownS3(): Promise<void> {
  for (const st of stores.splice(0)) st.close();
  await server?.stop();
  if (s3dir) await rm(s3dir, { recursive: true, force: true });
}

objectStoreContract('S3 (s3rver)', { setUp: setUpS3, store: () => s3, tearDown: async () => undefined });

describe('S3 object store', function () {
  this.timeout(60_000);
  before(setUpS3);
  after(tearDownS3);

  const noSecrets = (msg: string): void => {
    assert.doesNotMatch(msg, new RegExp(SECRET));
    assert.doesNotMatch(msg, /S3RVER/, 'not even the access key id');
  };

  it('describes itself by bucket and endpoint, without credentials', () => {
    assert.equal(s3.describe(), `s3 ${BUCKET} at ${server.endpoint}`);
    assert.equal(s3Store({ prefix: 'vitalgate/prod/' }).describe(), `s3 ${BUCKET}/vitalgate/prod/ at ${server.endpoint}`);
    assert.equal(new S3ObjectStore({ bucket: BUCKET, region: 'eu-central-1' }).describe(), `s3 ${BUCKET} at aws eu-central-1`);
    noSecrets(s3.describe());
  });

  it('two instances racing on the same keys: each key is created exactly once (If-None-Match)', async () => {
    // Separate stores share no lock, like two ingest processes: only the server can decide.
    const [a, b] = [s3Store(), s3Store()];
    const ns = fresh();
    for (let round = 0; round < 20; round++) {
      const key = `${ns}race${round}`;
      const offers = Array.from({ length: 6 }, (_, i) => bytesOf(`round ${round} writer ${i}`));
      const created = await Promise.all(offers.map((o, i) => (i % 2 ? a : b).put(key, o)));
      assert.equal(created.filter(Boolean).length, 1, `round ${round}: ${created.join(',')}`);
      assert.deepEqual(await s3.get(key), offers[created.indexOf(true)]);
    }
  });

  it('without conditional writes, an existing key is still never rewritten (HEAD first)', async () => {
    const plain = s3Store({ conditionalWrites: false });
    const key = `${fresh()}x`;
    assert.equal(await plain.put(key, bytesOf('one')), true);
    assert.equal(await plain.put(key, bytesOf('two')), false);
    assert.deepEqual(await plain.get(key), bytesOf('one'));
  });

  it('pages with a small page size, and keeps a key prefix out of the keys it returns', async () => {
    const small = s3Store({ pageSize: 7, prefix: 'tenant-a/' });
    const other = s3Store({ prefix: 'tenant-b/' });
    const p = `${fresh()}paged/`;
    const keys = Array.from({ length: 60 }, (_, i) => keyN(p, i));
    await inParallel(keys, 8, async (k) => { assert.equal(await small.put(k, bytesOf(k)), true); });
    assert.deepEqual(await small.list(p, undefined, 100), keys);
    assert.deepEqual(await small.list(p, keys[3], 20), keys.slice(4, 24));
    assert.deepEqual(await small.get(keys[5]!), bytesOf(keys[5]!));
    assert.deepEqual(await other.list(p, undefined, 100), [], 'another prefix sees none of them');
    assert.equal(await other.get(keys[5]!), undefined);
    assert.deepEqual(await s3.list(`tenant-a/${p}`, undefined, 2), [`tenant-a/${keys[0]}`, `tenant-a/${keys[1]}`], 'they live under the prefix');
  });

  it('refuses a bad bucket name, key prefix or endpoint when constructed', () => {
    assert.throws(() => new S3ObjectStore({ bucket: 'B' }), /bucket name "B" is not valid/);
    assert.throws(() => new S3ObjectStore({ bucket: BUCKET, prefix: 'no-slash' }), /prefix "no-slash" must be path segments ending with "\/"/);
    assert.throws(() => new S3ObjectStore({ bucket: BUCKET, prefix: '../' }), /prefix/);
    assert.throws(() => new S3ObjectStore({ bucket: BUCKET, endpoint: 'ftp://u:pw@host' }), (e: Error) => /expected an http/.test(e.message) && !e.message.includes('pw'));
  });

  it('open: a missing bucket is a clear error, or created when asked (tests and development)', async () => {
    const creds = { accessKeyId: 'S3RVER', secretAccessKey: SECRET };
    await assert.rejects(S3ObjectStore.open({ bucket: 'no-such-bucket', endpoint: server.endpoint, forcePathStyle: true, credentials: creds }), (e: Error) => {
      assert.ok(e instanceof S3StoreError);
      assert.equal(e.message, `S3 bucket no-such-bucket does not exist at ${server.endpoint}: create it first (ingest never creates buckets outside tests)`);
      return true;
    });
    const made = await S3ObjectStore.open({ bucket: 'made-on-open', endpoint: server.endpoint, forcePathStyle: true, credentials: creds, createBucketIfMissing: true });
    stores.push(made);
    assert.equal(await made.put('a/b', bytesOf('c')), true);
    const again = await S3ObjectStore.open({ bucket: 'made-on-open', endpoint: server.endpoint, forcePathStyle: true, credentials: creds, createBucketIfMissing: true });
    stores.push(again);
    assert.deepEqual(await again.get('a/b'), bytesOf('c'), 'an existing bucket is left as it is');
  });

  it('a missing bucket fails every call: a get must not read as "no such object"', async () => {
    const gone = s3Store({ bucket: 'never-created' });
    for (const call of [() => gone.get('a/b'), () => gone.put('a/b', bytesOf('x')), () => gone.list('a/', undefined, 5)]) {
      await assert.rejects(call(), (e: Error) => e instanceof S3StoreError && e.code === 'NoSuchBucket' && e.message.includes(`in bucket never-created at ${server.endpoint}`));
    }
  });

  it('open: nothing listening at the endpoint is an error naming it', async () => {
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}`;
    await assert.rejects(S3ObjectStore.open({ bucket: BUCKET, endpoint, forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: SECRET }, maxAttempts: 1 }), (e: Error) => {
      assert.match(e.message, new RegExp(`^S3 ECONNREFUSED on check in bucket ${BUCKET} at http://127\\.0\\.0\\.1:${port}: `));
      noSecrets(e.message);
      return true;
    });
  });

  for (const how of ['stop', 'kill'] as const) {
    it(`the server ${how === 'stop' ? 'stopped' : 'killed (SIGKILL)'}: calls fail naming bucket and endpoint, and after a restart nothing is lost`, async function () {
      this.timeout(120_000);
      const ns = fresh();
      const before = Array.from({ length: 25 }, (_, i) => keyN(`${ns}b/`, i));
      await inParallel(before, 8, async (k) => { assert.equal(await s3.put(k, bytesOf(`bytes of ${k}`)), true); });
      await server[how]();
      try {
        const down = new RegExp(`^S3 ECONNREFUSED on \\w+ in bucket ${BUCKET} at http://127\\.0\\.0\\.1:${server.port}`);
        const calls = [() => s3.put(`${ns}b/new`, bytesOf('n')), () => s3.get(before[0]!), () => s3.list(`${ns}b/`, undefined, 10)];
        for (const call of calls) {
          // get must fail, not answer "missing": ingest would tell a gateway its batch is gone.
          await assert.rejects(call(), (e: Error) => {
            assert.ok(e instanceof S3StoreError, String(e));
            assert.match(e.message, down);
            assert.equal(e.code, 'ECONNREFUSED');
            noSecrets(e.message);
            noSecrets(String(e.stack));
            return true;
          });
        }
      } finally {
        await server.restart();
      }
      assert.deepEqual(await s3.list(`${ns}b/`, undefined, 100), before);
      for (const k of before) assert.deepEqual(await s3.get(k), bytesOf(`bytes of ${k}`));
      assert.equal(await s3.put(`${ns}b/new`, bytesOf('n')), true, 'works again, and the failed put wrote nothing');
      assert.equal(await s3.put(before[0]!, bytesOf('other')), false);
    });
  }
});
