/**
 * Two ingest instances behind "one address" (a client may reach either), sharing object storage
 * (one directory) and the replay cache (one real redis-server, password-protected, with an
 * append-only file), against a real anvil chain. A signed request is accepted by one instance at
 * most, even when replayed to the other or sent to both at once; uploads spread over both are all
 * kept and both list them; when Redis is gone or hung, requests are refused with a 503 (fail
 * closed) rather than accepted unchecked, and everything works again once Redis is back.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wallet, type JsonRpcProvider } from 'ethers';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { ANVIL_DEV_KEYS, connectContracts, createProvider, deployOrLoad, patientRef, startAnvil, type AnvilNode, type Deployment } from '@vitalgate/contracts';
import { sealBatch, type ReadingBody } from '@vitalgate/protocol';
import { requireProgram, startRedis, type RedisServer } from '@vitalgate/test-support';
import { ChainGatewayDirectory, IngestClient, LocalObjectStore, RedisReplayCache, batchQuery, buildIngest, type IngestResponse } from '../../src/index.js';

const T0 = Date.UTC(2026, 11, 3, 8);
const KEY = new Uint8Array(32).fill(9);
// Must never appear in a log line or a response: the test checks both.
const PASSWORD = 'scale-out-redis-secret-7f3a';
const COMMAND_TIMEOUT_MS = 500;
const bodies = (n: number, from: number): ReadingBody[] => Array.from({ length: n }, (_, i) => ({ seq: from + i, ts: T0 + (from + i) * 1000, values: { hr: 60 + i } }));

async function filesUnder(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((d) => d.isFile()).map((d) => d.name).sort();
  } catch {
    return [];
  }
}

interface Instance { name: string; cache: RedisReplayCache; app: FastifyInstance; url: string; client: IngestClient }

describe('ingest scale-out: two instances sharing storage and a Redis replay cache', function () {
  this.timeout(90_000);
  let dir: string;
  let objects: string;
  let redis: RedisServer;
  let redisUrl: string;
  let node: AnvilNode;
  let provider: JsonRpcProvider;
  let deployment: Deployment;
  let gw: Wallet, patient: Wallet;
  let a: Instance, b: Instance;
  const logLines: string[] = [];
  let seq = 0;

  const seal = () => {
    const from = (seq += 10);
    return sealBatch(KEY, { stream: 'hr', patientId: 'scale-p1', deviceId: 'strap-1', epoch: 1, seq: from, bodies: bodies(5, from) });
  };
  const putPath = (s: ReturnType<typeof seal>) => `/v1/batches/${s.id}${batchQuery(s.header, patient.address)}`;
  const listPath = () => `/v1/batches?patientAccount=${patient.address}`;
  const put = (i: Instance, s = seal()) => i.client.request('PUT', putPath(s), s.bytes);

  async function instance(name: string): Promise<Instance> {
    // The caches report outages to a captured log, so the test can check what an operator sees.
    const capture = pino({ level: 'info', base: { instance: name } }, { write: (line: string) => void logLines.push(line) });
    const cache = new RedisReplayCache(redisUrl, { logger: capture, commandTimeoutMs: COMMAND_TIMEOUT_MS });
    await cache.waitReady();
    // Separate store, directory and app objects on one storage root: as two processes would have.
    const app = await buildIngest({
      store: new LocalObjectStore(objects),
      directory: new ChainGatewayDirectory(deployment, provider),
      replay: cache,
      rateRedis: cache.redis,
      logger: pino({ level: 'silent' }),
    });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    return { name, cache, app, url, client: new IngestClient(url, gw) };
  }

  /** Sends fresh signed uploads to `i` until one is stored (Redis reconnects on its own). */
  async function untilStored(i: Instance, withinMs: number): Promise<number> {
    const t0 = Date.now();
    for (;;) {
      const r = await put(i);
      if (r.status === 201) return Date.now() - t0;
      assert.deepEqual([r.status, r.json?.error], [503, 'replay-cache-unavailable'], `while waiting for Redis, ${i.name} answered otherwise`);
      if (Date.now() - t0 > withinMs) assert.fail(`${i.name} still refuses after ${withinMs} ms with Redis back`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  function assertUnavailable(r: IngestResponse, what: string): void {
    assert.deepEqual([r.status, r.json?.error], [503, 'replay-cache-unavailable'], `${what}: ${JSON.stringify(r.json)}`);
    assert.equal(typeof r.json?.message, 'string', what);
    assert.ok(!r.json!.message!.includes(PASSWORD) && !r.json!.message!.includes('127.0.0.1'), `${what}: the message names no secret or internal address: ${r.json!.message}`);
  }

  before(async function () {
    requireProgram(this, 'redis-server', 'redis-server');
    dir = await mkdtemp(join(tmpdir(), 'vg-scale-out-'));
    objects = join(dir, 'objects');
    redis = await startRedis(join(dir, 'redis'), { args: ['--requirepass', PASSWORD] });
    redisUrl = `redis://:${PASSWORD}@127.0.0.1:${redis.port}`;
    node = await startAnvil();
    provider = createProvider(node.url, node.chainId);
    const admin = new Wallet(ANVIL_DEV_KEYS[0]!, provider);
    deployment = (await deployOrLoad(admin, join(dir, 'deployment.json'))).deployment;
    [gw, patient] = [1, 4].map((i) => new Wallet(ANVIL_DEV_KEYS[i]!, provider)) as [Wallet, Wallet];
    const reg = connectContracts(deployment, admin).registry;
    await (await reg.registerGateway(gw.address)).wait();
    await (await reg.registerPatient(patient.address, patientRef('scale-p1'), gw.address)).wait();
    a = await instance('A');
    b = await instance('B');
  });

  after(async () => {
    for (const i of [a, b]) {
      await i?.app.close();
      await i?.cache.close();
    }
    provider?.destroy();
    await node?.stop();
    await redis?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('(a) a request accepted by A and replayed byte for byte to B is refused (401 replayed), and nothing more is stored', async () => {
    const s = seal();
    const path = putPath(s);
    const headers = await a.client.sign('PUT', path, s.bytes);
    const first = await a.client.request('PUT', path, s.bytes, headers);
    assert.equal(first.status, 201, JSON.stringify(first.json));
    const stored = await filesUnder(objects);
    const replay = await b.client.request('PUT', path, s.bytes, headers);
    assert.deepEqual([replay.status, replay.json?.error], [401, 'replayed']);
    assert.deepEqual(await filesUnder(objects), stored, 'nothing stored by the replay');
    // The record is where and as long as documented: prefix, lowercased keyid, twice the skew.
    const nonce = /nonce="([^"]+)"/.exec(headers['signature-input']!)![1]!;
    const ttl = await a.cache.redis.pttl(`vitalgate:ingest:nonce:${gw.address.toLowerCase()}:${nonce}`);
    assert.ok(ttl > 590_000 && ttl <= 600_000, `nonce TTL ${ttl} ms`);
  });

  it('(b) uploads spread round-robin over A and B are all stored, and both list the same batches', async () => {
    const sealed = Array.from({ length: 16 }, () => seal());
    const results = await Promise.all(sealed.map((s, k) => put(k % 2 ? b : a, s)));
    assert.deepEqual(results.map((r) => r.status), sealed.map(() => 201), JSON.stringify(results.map((r) => r.json)));
    const [fromA, fromB] = await Promise.all([a.client.request('GET', listPath()), b.client.request('GET', listPath())]);
    assert.equal(fromA.status, 200);
    assert.deepEqual(fromB.json, fromA.json);
    const ids = (fromA.json as { ids: string[] }).ids;
    for (const s of sealed) assert.ok(ids.includes(s.id), `${s.id} listed`);
  });

  it('(c) with Redis stopped or hung, both refuse with 503 replay-cache-unavailable (and store nothing) without crashing; after a restart both accept again and nonces from before are still refused', async () => {
    const earlier = seal();
    const earlierHeaders = await a.client.sign('PUT', putPath(earlier), earlier.bytes);
    assert.equal((await a.client.request('PUT', putPath(earlier), earlier.bytes, earlierHeaders)).status, 201);
    const stored = await filesUnder(objects);

    await redis.stop();
    for (const i of [a, b, a, b]) {
      const t0 = Date.now();
      assertUnavailable(await put(i), `PUT to ${i.name} with Redis stopped`);
      assertUnavailable(await i.client.request('GET', listPath()), `GET from ${i.name} with Redis stopped`);
      assert.ok(Date.now() - t0 < 2 * COMMAND_TIMEOUT_MS + 1000, `refused quickly, not after a queue wait (${Date.now() - t0} ms)`);
    }
    assert.deepEqual(await filesUnder(objects), stored, 'nothing stored while the nonce could not be checked');

    await redis.restart();
    const recoveredA = await untilStored(a, 10_000);
    const recoveredB = await untilStored(b, 10_000);
    process.stdout.write(`      (back after Redis restart: A ${recoveredA} ms, B ${recoveredB} ms)\n`);
    // The append-only file kept the nonces: a restart of Redis does not reopen the replay window.
    const replay = await b.client.request('PUT', putPath(earlier), earlier.bytes, earlierHeaders);
    assert.deepEqual([replay.status, replay.json?.error], [401, 'replayed']);

    // Hung, not gone: the connection stays open but nothing answers. The command timeout decides.
    redis.pause();
    try {
      const t0 = Date.now();
      assertUnavailable(await put(b), 'PUT to B with Redis hung');
      const took = Date.now() - t0;
      assert.ok(took >= COMMAND_TIMEOUT_MS - 50 && took < COMMAND_TIMEOUT_MS + 1500, `refused after the command timeout (${took} ms)`);
    } finally {
      redis.resume();
    }
    await untilStored(b, 10_000);

    const log = logLines.join('');
    assert.ok(!log.includes(PASSWORD), 'no log line holds the Redis password');
    assert.match(log, /replay cache unavailable/);
    assert.match(log, /replay cache reachable again/);
    assert.match(log, /redis:\/\/:\*\*\*@127\.0\.0\.1/, 'the URL is logged redacted');
  });

  it('(d) the same signed request sent to A and B at the same moment is accepted exactly once', async () => {
    for (let round = 0; round < 20; round++) {
      const s = seal();
      const path = putPath(s);
      const headers = await a.client.sign('PUT', path, s.bytes);
      const rs = await Promise.all([a.client.request('PUT', path, s.bytes, headers), b.client.request('PUT', path, s.bytes, headers)]);
      const outcome = rs.map((r) => `${r.status} ${r.json?.error ?? ''}`.trim()).sort();
      assert.deepEqual(outcome, ['201', '401 replayed'], `round ${round}`);
    }
  });
});
