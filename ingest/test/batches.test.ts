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
import { sealBatch, type ReadingBody } from '@vitalgate/protocol';
import { ChainGatewayDirectory, IngestClient, LocalObjectStore, MemoryReplayCache, batchQuery, buildIngest } from '../src/index.js';

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
});
