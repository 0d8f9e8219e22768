/**
 * PUT/GET /v1/batches on a real ingest server (loopback) checking gateways against a real anvil
 * chain: a gateway stores its own patients' sealed batches, idempotently; every kind of bad request
 * gets the right 4xx and stores nothing; random input never gets a 5xx.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wallet, type JsonRpcProvider } from 'ethers';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { ANVIL_DEV_KEYS, createProvider, deployOrLoad, patientRef, startAnvil, type AnvilNode, type Deployment } from '@vitalgate/contracts';
import { MAX_BUNDLE_BATCHES, encodeBundle, envelopePublicKey, parseBundle, randomEnvelopeSecretKey, sealEnvelope, type ReadingBody } from '@vitalgate/protocol';
import { sealBatch } from '@vitalgate/protocol';
import { ChainGatewayDirectory, IngestClient, LocalObjectStore, MemoryReplayCache, batchQuery, buildIngest, envelopeKey } from '../../../src/index.js';

const T0 = Date.UTC(2026, 11, 3, 8);
const KEY = new Uint8Array(32).fill(9);
const bodies = (n: number, from = 0): ReadingBody[] => Array.from({ length: n }, (_, i) => ({ seq: from + i, ts: T0 + (from + i) * 1000, values: { hr: 60 + i } }));

async function filesUnder(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((d) => d.isFile()).map((d) => d.name);
  } catch {
    return [];
  }
}

describe('ingest: signed batch uploads', function () {
  this.timeout(60_000);
  let node: AnvilNode;
  let provider: JsonRpcProvider;
  let deployment: Deployment;
  let dir: string;
  let app: FastifyInstance;
  let url: string;
  let gw: Wallet, gw2: Wallet, stranger: Wallet, patient: Wallet, patient2: Wallet;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vg-ingest-'));
    node = await startAnvil();
    provider = createProvider(node.url, node.chainId);
    const admin = new Wallet(ANVIL_DEV_KEYS[0]!, provider);
    deployment = (await deployOrLoad(admin, join(dir, 'deployment.json'))).deployment;
    [gw, gw2, stranger, patient, patient2] = [1, 2, 3, 4, 5].map((i) => new Wallet(ANVIL_DEV_KEYS[i]!, provider)) as [Wallet, Wallet, Wallet, Wallet, Wallet];
    const { connectContracts } = await import('@vitalgate/contracts');
    const reg = connectContracts(deployment, admin).registry;
    await (await reg.registerGateway(gw.address)).wait();
    await (await reg.registerGateway(gw2.address)).wait();
    await (await reg.registerPatient(patient.address, patientRef('ingest-p1'), gw.address)).wait();
    await (await reg.registerPatient(patient2.address, patientRef('ingest-p2'), gw2.address)).wait();
    app = await buildIngest({
      store: new LocalObjectStore(join(dir, 'objects')),
      directory: new ChainGatewayDirectory(deployment, provider),
      replay: new MemoryReplayCache(),
      maxBodyBytes: 64 * 1024,
      logger: pino({ level: 'silent' }),
    });
    url = await app.listen({ port: 0, host: '127.0.0.1' });
  });
  after(async () => {
    await app?.close();
    provider?.destroy();
    await node?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const seal = (from = 0, patientId = 'ingest-p1') => sealBatch(KEY, { stream: 'hr', patientId, deviceId: 'strap-1', epoch: 3, seq: from, bodies: bodies(5, from) });
  const putPath = (s: ReturnType<typeof seal>, account = patient.address) => `/v1/batches/${s.id}${batchQuery(s.header, account)}`;

  it('stores a batch for the gateway\'s own patient (201), takes the same bytes again as a no-op (200), and gives them back', async () => {
    const client = new IngestClient(url, gw);
    const s = seal(0);
    const first = await client.request('PUT', putPath(s), s.bytes);
    assert.equal(first.status, 201, JSON.stringify(first.json));
    assert.deepEqual(first.json, { id: s.id, stored: true, created: true });
    const again = await client.request('PUT', putPath(s), s.bytes);
    assert.equal(again.status, 200);
    assert.equal(again.json?.created, false);
    const got = await client.request('GET', `/v1/batches/${s.id}?patient=ingest-p1&patientAccount=${patient.address}`);
    assert.equal(got.status, 200);
    assert.deepEqual(got.body, s.bytes);
    // Another gateway may not read it.
    const other = await new IngestClient(url, gw2).request('GET', `/v1/batches/${s.id}?patient=ingest-p1&patientAccount=${patient.address}`);
    assert.equal(other.status, 403);
  });

  it('refuses, with the right status and code, and stores nothing: unsigned, wrong signer, not a gateway, another gateway\'s patient, replayed, stale, body not its id, header not its metadata, digest not the body', async () => {
    const objects = join(dir, 'objects');
    const before = (await filesUnder(objects)).length;
    const s = seal(100);
    const path = putPath(s);
    const client = new IngestClient(url, gw);
    const cases: Array<[string, () => Promise<{ status: number; json?: { error?: string } }>, number, string]> = [
      ['unsigned', () => client.request('PUT', path, s.bytes, {}), 401, 'unsigned'],
      ['wrong signer (keyid names the gateway, a stranger signed)', async () => client.request('PUT', path, s.bytes, await new IngestClient(url, stranger).sign('PUT', path, s.bytes, { keyid: gw.address })), 401, 'wrong-signer'],
      ['not a gateway', () => new IngestClient(url, stranger).request('PUT', path, s.bytes), 403, 'not-a-gateway'],
      ['another gateway\'s patient', () => new IngestClient(url, gw2).request('PUT', path, s.bytes), 403, 'not-your-patient'],
      ['stale', async () => client.request('PUT', path, s.bytes, await client.sign('PUT', path, s.bytes, { created: Math.floor(Date.now() / 1000) - 3600 })), 401, 'stale-signature'],
      ['body not its id', () => client.request('PUT', `/v1/batches/${seal(200).id}${batchQuery(s.header, patient.address)}`, s.bytes), 400, 'id-mismatch'],
      ['header not its metadata', () => client.request('PUT', `/v1/batches/${s.id}${batchQuery({ ...s.header, seq: s.header.seq + 1 }, patient.address)}`, s.bytes), 400, 'header-mismatch'],
      ['digest not the body', async () => client.request('PUT', path, s.bytes, await client.sign('PUT', path, seal(300).bytes)), 400, 'digest-mismatch'],
      ['signature over another path', async () => client.request('PUT', path, s.bytes, await client.sign('PUT', putPath(seal(400)), s.bytes)), 401, 'wrong-signer'],
    ];
    for (const [what, run, status, code] of cases) {
      const r = await run();
      assert.deepEqual([r.status, r.json?.error], [status, code], what);
    }
    assert.equal((await filesUnder(objects)).length, before, 'nothing stored');
    // Replayed: the same signed request twice.
    const headers = await client.sign('PUT', path, s.bytes);
    assert.equal((await client.request('PUT', path, s.bytes, headers)).status, 201);
    const replay = await client.request('PUT', path, s.bytes, headers);
    assert.deepEqual([replay.status, replay.json?.error], [401, 'replayed']);
  });

  it('a body over the limit is refused before it is buffered (413)', async () => {
    const big = new Uint8Array(128 * 1024);
    const client = new IngestClient(url, gw);
    const r = await client.request('PUT', `/v1/batches/${'0'.repeat(64)}?patient=ingest-p1`, big);
    assert.deepEqual([r.status, r.json?.error], [413, 'body-too-large']);
    assert.equal(typeof r.json?.message, 'string');
  });

  it('property: random ids, queries, bodies and signature headers get a 4xx with a JSON error, never a 5xx', async () => {
    const client = new IngestClient(url, gw);
    const hex = fc.stringMatching(/^[0-9a-f]{0,70}$/);
    await fc.assert(fc.asyncProperty(
      hex, fc.uint8Array({ maxLength: 300 }), fc.string({ maxLength: 60 }), fc.option(fc.stringMatching(/^[!-~][ -~]{0,150}[!-~]$/)), fc.boolean(),
      async (id, body, query, sigInput, signIt) => {
        const path = `/v1/batches/${id}?${encodeURIComponent(query)}`;
        const headers = signIt ? await client.sign('PUT', path, body) : { 'content-digest': 'sha-256=:x:', ...(sigInput !== null && { 'signature-input': sigInput, signature: sigInput }) };
        const r = await client.request('PUT', path, body, headers);
        assert.ok(r.status >= 400 && r.status < 500, `status ${r.status} for ${path}`);
        assert.equal(typeof r.json?.error, 'string');
      },
    ), { numRuns: 150 });
  });

  const item = (x: ReturnType<typeof seal>, account = patient.address) => ({
    item: { id: x.id, patientAccount: account, patient: x.header.patientId, stream: x.header.stream, device: x.header.deviceId, epoch: x.header.epoch, seq: x.header.seq, firstTs: x.header.firstTs, lastTs: x.header.lastTs, count: x.header.count },
    bytes: x.bytes,
  });

  it('a bundle (POST /v1/batches) stores each batch once, answers for each, and refuses the bad ones alone', async () => {
    const client = new IngestClient(url, gw);
    const good = [seal(1000), seal(1005), seal(1010)];
    const stored = new LocalObjectStore(join(dir, 'objects'));
    const before = (await filesUnder(join(dir, 'objects'))).length;
    const tampered = seal(1020);
    const otherPatient = seal(1030, 'ingest-p2');
    const body = encodeBundle([
      ...good.map((g) => item(g)),
      { ...item(tampered), item: { ...item(tampered).item, seq: 99 } },
      item(otherPatient, patient2.address),
      { item: item(seal(1040)).item, bytes: seal(1050).bytes },
    ]);
    const r = await client.request('POST', '/v1/batches', body);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const results = (r.json as { results: Array<{ id: string; status: number; error?: string }> }).results;
    assert.deepEqual(results.map((x) => [x.status, x.error ?? null]), [[201, null], [201, null], [201, null], [400, 'header-mismatch'], [403, 'not-your-patient'], [400, 'id-mismatch']]);
    assert.equal((await filesUnder(join(dir, 'objects'))).length, before + 3, 'only the three good batches stored');
    for (const g of good) assert.deepEqual(await stored.get(`batches/${patient.address}/${g.id}`), g.bytes);
    // The same bundle again: the good ones are already there (200), nothing new is stored.
    const again = await client.request('POST', '/v1/batches', body);
    assert.deepEqual((again.json as { results: Array<{ status: number }> }).results.slice(0, 3).map((x) => x.status), [200, 200, 200]);
    assert.equal((await filesUnder(join(dir, 'objects'))).length, before + 3);
  });

  it('a bundle that is not one, unsigned, or from another gateway is refused whole, and nothing is stored', async () => {
    const before = (await filesUnder(join(dir, 'objects'))).length;
    const client = new IngestClient(url, gw);
    const body = encodeBundle([item(seal(2000))]);
    const cases: Array<[string, () => Promise<{ status: number; json?: { error?: string } }>, number, string]> = [
      ['not a bundle', () => client.request('POST', '/v1/batches', seal(2010).bytes), 400, 'bad-bundle'],
      ['trailing bytes', () => client.request('POST', '/v1/batches', new Uint8Array([...body, 0])), 400, 'bad-bundle'],
      ['unsigned', () => client.request('POST', '/v1/batches', body, {}), 401, 'unsigned'],
      ['not a gateway', () => new IngestClient(url, stranger).request('POST', '/v1/batches', body), 403, 'not-a-gateway'],
    ];
    for (const [what, run, status, code] of cases) {
      const r = await run();
      assert.deepEqual([r.status, r.json?.error], [status, code], what);
    }
    const r = await new IngestClient(url, gw2).request('POST', '/v1/batches', body);
    assert.deepEqual((r.json as { results: Array<{ status: number; error: string }> }).results.map((x) => [x.status, x.error]), [[403, 'not-your-patient']], 'another gateway\'s patient');
    assert.equal((await filesUnder(join(dir, 'objects'))).length, before);
  });

  it('property: the bundle parser never throws, and what it parses re-encodes to the same bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
      const p = parseBundle(bytes);
      assert.equal(typeof p.ok, 'boolean');
    }), { numRuns: 500 });
    const many = Array.from({ length: 5 }, (_, i) => item(seal(3000 + i * 5)));
    const enc = encodeBundle(many);
    const p = parseBundle(enc);
    assert.ok(p.ok);
    assert.deepEqual(encodeBundle(p.value.items.map((it, i) => ({ item: it, bytes: p.value.bodies[i]! }))), enc);
    fc.assert(fc.property(fc.nat(enc.length - 1), fc.integer({ min: 1, max: 255 }), (at, x) => {
      const t = enc.slice();
      t[at]! ^= x;
      assert.equal(typeof parseBundle(t).ok, 'boolean');
    }), { numRuns: 300 });
    assert.throws(() => encodeBundle([]), /1\.\.256/);
    assert.equal(MAX_BUNDLE_BATCHES, 256);
  });

  it('key envelopes (PUT /v1/envelopes): stored once per grantee, epoch and stream; only from the patient\'s gateway; malformed refused', async () => {
    const client = new IngestClient(url, gw);
    const grantee = stranger.address;
    const env = sealEnvelope(envelopePublicKey(randomEnvelopeSecretKey()), new Uint8Array(32).fill(4), { patientId: 'ingest-p1', stream: 'hr', epoch: 3 });
    const path = `/v1/envelopes/${patient.address}/${grantee}/hr/3`;
    assert.equal((await client.request('PUT', path, env)).status, 201);
    assert.equal((await client.request('PUT', path, env)).status, 200, 'the same bytes again');
    const other = sealEnvelope(envelopePublicKey(randomEnvelopeSecretKey()), new Uint8Array(32).fill(4), { patientId: 'ingest-p1', stream: 'hr', epoch: 3 });
    const conflict = await client.request('PUT', path, other);
    assert.deepEqual([conflict.status, conflict.json?.error], [409, 'record-conflict']);
    assert.deepEqual(await new LocalObjectStore(join(dir, 'objects')).get(envelopeKey(grantee, patient.address, 'hr', 3)), env, 'the first kept');
    const refused: Array<[string, () => Promise<{ status: number; json?: { error?: string } }>, number, string]> = [
      ['another gateway', () => new IngestClient(url, gw2).request('PUT', `/v1/envelopes/${patient.address}/${grantee}/hr/4`, env), 403, 'not-your-patient'],
      ['not an envelope', () => client.request('PUT', `/v1/envelopes/${patient.address}/${grantee}/hr/5`, seal(4000).bytes), 400, 'bad-envelope'],
      ['bad stream', () => client.request('PUT', `/v1/envelopes/${patient.address}/${grantee}/heart/5`, env), 400, 'bad-metadata'],
      ['bad epoch', () => client.request('PUT', `/v1/envelopes/${patient.address}/${grantee}/hr/99999999999`, env), 400, 'bad-epoch'],
      ['bad grantee', () => client.request('PUT', `/v1/envelopes/${patient.address}/0x12/hr/5`, env), 400, 'bad-metadata'],
    ];
    for (const [what, run, status, code] of refused) {
      const r = await run();
      assert.deepEqual([r.status, r.json?.error], [status, code], what);
    }
    assert.deepEqual(await new LocalObjectStore(join(dir, 'objects')).list(`envelopes/${grantee}/`, undefined, 100), [envelopeKey(grantee, patient.address, 'hr', 3)], 'nothing else stored');
  });

  it('per-gateway rate limit: past it, 429 rate-limited with a JSON error; another gateway is not slowed', async () => {
    const limited = await buildIngest({
      store: new LocalObjectStore(join(dir, 'objects-limited')), directory: new ChainGatewayDirectory(deployment, provider),
      replay: new MemoryReplayCache(), ratePerGateway: 3, logger: pino({ level: 'silent' }),
    });
    const u = await limited.listen({ port: 0, host: '127.0.0.1' });
    try {
      const a = new IngestClient(u, gw);
      const statuses = await Promise.all(Array.from({ length: 8 }, (_, i) => { const x = seal(5000 + i * 5); return a.request('PUT', putPath(x), x.bytes); }));
      const limitedOnes = statuses.filter((r) => r.status === 429);
      assert.ok(limitedOnes.length >= 4, `statuses ${statuses.map((r) => r.status).join(',')}`);
      assert.ok(limitedOnes.every((r) => r.json?.error === 'rate-limited' && /per second/.test(String(r.json?.message))));
      assert.equal(statuses.filter((r) => r.status === 201).length, 8 - limitedOnes.length);
      const other = seal(6000, 'ingest-p2');
      const b = await new IngestClient(u, gw2).request('PUT', `/v1/batches/${other.id}${batchQuery(other.header, patient2.address)}`, other.bytes);
      assert.equal(b.status, 201, 'another gateway has its own budget');
    } finally {
      await limited.close();
    }
  });
});
