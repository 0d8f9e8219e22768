/**
 * The care-team service as `vitalgate ingest` runs it (startCareTeamService), on a real ingest
 * against a real anvil chain:
 *   - a clinician signs in with ClinicianClient, reads the granted stream and opens it with its
 *     envelopes; every decision lands in the access log;
 *   - denied requests are reported to the Registry in one transaction per clinician; at the
 *     threshold the clinician is banned, and then refused everything, sign-in included;
 *   - the access log is anchored through AuditLog; the patient's gateway reads its entries with
 *     proofs that AuditLog.verifyEntry accepts on chain; an anchor whose record was lost is repaired
 *     without a second transaction;
 *   - break-glass opens the whole record while it lasts, and every access under it is flagged;
 *   - an auditor without AUDITOR_ROLE is refused at start.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keccak256, Wallet, type JsonRpcProvider } from 'ethers';
import type { FastifyInstance } from 'fastify';
import fc from 'fast-check';
import pino from 'pino';
import { ANVIL_DEV_KEYS, MAX_DATA_TS, connectContracts, createProvider, deployOrLoad, patientRef, startAnvil, type AnvilNode, type Deployment } from '@vitalgate/contracts';
import { STREAMS, envelopePublicKey, randomEnvelopeSecretKey, sealBatch, sealEnvelope } from '@vitalgate/protocol';
import {
  ApiError, ChainGatewayDirectory, ClinicianClient, EmbeddedCatalog, IngestClient, LocalObjectStore, MemoryReplayCache, batchQuery, buildIngest,
  envelopeKey, openWithEnvelopes, parseAnchorRecord, startCareTeamService, type AccessLogAnchorRecord, type CareTeamService,
} from '../../../src/index.js';

const T0 = Date.UTC(2026, 11, 4, 8);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('care-team service: denials reported and banned, the access log anchored and proven', function () {
  this.timeout(120_000);
  let node: AnvilNode;
  let provider: JsonRpcProvider;
  let deployment: Deployment;
  let dir: string;
  let app: FastifyInstance;
  let url: string;
  let objects: LocalObjectStore;
  let service: CareTeamService;
  let gw: Wallet, patient: Wallet, doc: Wallet, prober: Wallet, admin: Wallet, auditor: Wallet;
  const docKey = randomEnvelopeSecretKey();
  const dk = new Uint8Array(32).fill(9);
  const ids: string[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vg-care-service-'));
    node = await startAnvil({ statePath: join(dir, 'anvil-state.json') });
    provider = createProvider(node.url, node.chainId);
    admin = new Wallet(ANVIL_DEV_KEYS[0]!, provider);
    deployment = (await deployOrLoad(admin, join(dir, 'deployment.json'))).deployment;
    [gw, patient, doc, prober, auditor] = [1, 2, 3, 4, 6].map((i) => new Wallet(ANVIL_DEV_KEYS[i]!, provider)) as [Wallet, Wallet, Wallet, Wallet, Wallet];
    const reg = connectContracts(deployment, admin).registry;
    await (await reg.registerGateway(gw.address)).wait();
    await (await reg.registerPatient(patient.address, patientRef('ct-p1'), gw.address)).wait();
    await (await reg.registerClinician(doc.address, envelopePublicKey(docKey))).wait();
    await (await reg.registerClinician(prober.address, envelopePublicKey(randomEnvelopeSecretKey()))).wait();
    await (await reg.setDenyThreshold(3)).wait();
    await (await connectContracts(deployment, patient).consent.grant(doc.address, 1 << STREAMS.hr.id, 0, MAX_DATA_TS, Math.floor(Date.now() / 1000) + 3600, 'treatment')).wait();
    objects = new LocalObjectStore(join(dir, 'objects'));
    const catalog = await EmbeddedCatalog.open(join(dir, 'catalog'));
    const replay = new MemoryReplayCache();
    // The auditor role is checked at start: first without it, then granted.
    await assert.rejects(startCareTeamService({
      deployment, provider, store: objects, replay, sessionSecret: new Uint8Array(32).fill(3),
      siwe: { domain: '127.0.0.1', origin: 'http://127.0.0.1', chainId: node.chainId }, auditor,
    }), /does not hold Registry\.AUDITOR_ROLE/);
    await (await reg.grantRole(await reg.AUDITOR_ROLE(), auditor.address)).wait();
    service = await startCareTeamService({
      deployment, provider, store: objects, replay, sessionSecret: new Uint8Array(32).fill(3),
      siwe: { domain: '127.0.0.1', origin: 'http://127.0.0.1', chainId: node.chainId }, auditor,
      accessPollMs: 200, denialReportMs: 3_600_000, anchorPeriodMs: 3_600_000, anchorSettleMs: 300, logger: pino({ level: 'silent' }),
    });
    app = await buildIngest({ store: objects, catalog, directory: new ChainGatewayDirectory(deployment, provider, 0), replay, logger: pino({ level: 'silent' }), clinicians: service.clinicians });
    url = await app.listen({ port: 0, host: '127.0.0.1' });
    service.clinicians.siwe.origin = new URL(url).origin;
    service.clinicians.siwe.domain = new URL(url).host;
    // Three hr batches and an ecg batch, sealed under one epoch key; the doctor's hr envelope beside them.
    const up = new IngestClient(url, gw);
    for (const [stream, seq] of [['hr', 0], ['hr', 1], ['hr', 2], ['ecg', 3]] as const) {
      const body = stream === 'ecg' ? { seq, ts: T0 + seq * 1000, rate: 250, samples: [1, 2, 3] } : { seq, ts: T0 + seq * 1000, values: { hr: 60 + seq } };
      const s = sealBatch(dk, { stream, patientId: 'ct-p1', deviceId: 'band', epoch: 1, seq, bodies: [body] });
      if (stream === 'hr') ids.push(s.id);
      assert.equal((await up.request('PUT', `/v1/batches/${s.id}${batchQuery(s.header, patient.address)}`, s.bytes)).status, 201);
    }
    await objects.put(envelopeKey(doc.address, patient.address, 'hr', 1), sealEnvelope(envelopePublicKey(docKey), dk, { patientId: 'ct-p1', stream: 'hr', epoch: 1 }));
    await until(() => service.follower.ready, 'the follower caught up');
  });
  after(async () => {
    await app?.close();
    await service?.stop();
    provider?.destroy();
    await node?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function until(f: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
    const end = Date.now() + ms;
    while (!(await f())) {
      if (Date.now() > end) throw new Error(`timed out: ${what}`);
      await sleep(100);
    }
  }

  it('a granted clinician signs in, reads hr only, and opens it with its own envelope', async () => {
    const c = new ClinicianClient(url, doc);
    assert.equal((await c.signIn()).address, doc.address);
    const [p] = await c.patients();
    assert.equal(p!.patientAccount, patient.address);
    assert.deepEqual(p!.access.map((a) => [a.via, a.streams]), [['grant', ['hr']]]);
    const entries = [];
    for await (const e of c.catalog(patient.address, T0, T0 + 60_000, 'hr')) entries.push(e);
    assert.deepEqual(entries.map((e) => e.id).sort(), [...ids].sort());
    const envelopes = await c.envelopes(patient.address, 'hr');
    const values = [];
    for (const e of entries) {
      const o = openWithEnvelopes(docKey, envelopes, e.id, await c.batch(patient.address, e.id));
      assert.ok(o.ok, o.ok ? '' : o.reason);
      values.push(...o.value.readings.map((r) => ('values' in r ? r.values.hr : undefined)));
    }
    assert.deepEqual(values.sort(), [60, 61, 62]);
    // Without its envelope (another clinician's key), the same bytes do not open.
    const other = openWithEnvelopes(randomEnvelopeSecretKey(), envelopes, ids[0]!, await c.batch(patient.address, ids[0]!));
    assert.equal(other.ok, false);
    await c.signOut();
  });

  it('denials are reported to the Registry in one transaction per clinician; at the threshold the clinician is banned and refused everything', async () => {
    const c = new ClinicianClient(url, prober);
    await c.signIn();
    const reg = connectContracts(deployment, provider).registry;
    for (let i = 0; i < 3; i++) {
      await assert.rejects(c.batch(patient.address, ids[0]!), (e: ApiError) => e.status === 403 && e.code === 'no-access');
    }
    assert.equal(service.denials!.waiting, 3);
    assert.equal(Number(await reg.deniedCount(prober.address)), 0, 'nothing on chain before the report');
    const before = await provider.getBlockNumber();
    await service.denials!.flush();
    assert.equal(service.denials!.waiting, 0);
    assert.equal(Number(await reg.deniedCount(prober.address)), 3);
    assert.equal(await reg.isBanned(prober.address), true);
    const reports = await reg.queryFilter(reg.filters.DeniedReported(prober.address), before + 1);
    assert.deepEqual(reports.map((r) => Number(r.args.count)), [3], 'one report of 3');
    // Banned: the API and sign-in refuse it, whatever it asks.
    await assert.rejects(c.patients(), (e: ApiError) => e.status === 403 && e.code === 'banned');
    await assert.rejects(c.catalog(patient.address, T0, T0 + 1000).next(), (e: ApiError) => e.status === 403 && e.code === 'banned');
    await assert.rejects(new ClinicianClient(url, prober).signIn(), (e: ApiError) => e.status === 403 && e.code === 'banned');
    // A granted clinician is not touched by another's ban.
    const ok = new ClinicianClient(url, doc);
    await ok.signIn();
    assert.equal((await ok.patients()).length, 1);
  });

  it('a failed report keeps its count and is sent once the chain answers', async () => {
    const c = new ClinicianClient(url, doc);
    await c.signIn();
    await assert.rejects(c.catalog(patient.address, T0, T0 + 1000, 'ecg').next(), (e: ApiError) => e.code === 'no-access');
    const reg = connectContracts(deployment, provider).registry;
    const was = Number(await reg.deniedCount(doc.address));
    const waiting = service.denials!.waiting;
    assert.ok(waiting >= 1);
    await node.stop();
    await service.denials!.flush();
    assert.equal(service.denials!.waiting, waiting, 'kept while the chain is down');
    node = await startAnvil({ port: Number(new URL(node.url).port), statePath: node.statePath });
    await until(async () => { await service.denials!.flush(); return service.denials!.waiting === 0; }, 'reported after the chain came back', 30_000);
    assert.equal(Number(await reg.deniedCount(doc.address)), was + 1);
  });

  it('break-glass: the clinician reads the whole record while it lasts, and every access is flagged in the access log', async () => {
    const er = new Wallet(ANVIL_DEV_KEYS[5]!, provider);
    await (await connectContracts(deployment, admin).registry.registerClinician(er.address, envelopePublicKey(randomEnvelopeSecretKey()))).wait();
    const c = new ClinicianClient(url, er);
    await c.signIn();
    assert.deepEqual(await c.patients(), []);
    await (await connectContracts(deployment, er).consent.breakGlass(patient.address, 1, 'unresponsive in the emergency room', 600)).wait();
    await until(async () => (await c.patients()).length === 1, 'break-glass seen by the API');
    const [p] = await c.patients();
    assert.equal(p!.access[0]!.via, 'break-glass');
    const ecg = [];
    for await (const e of c.catalog(patient.address, T0, T0 + 60_000)) ecg.push(e);
    assert.equal(ecg.length, 4, 'every stream, every time: the whole record');
    const res = await fetch(`${url}/v1/clinician/batches/${patient.address}/${ids[0]}`, { headers: { authorization: `Bearer ${(c as unknown as { token: string }).token}` } });
    assert.equal(res.status, 200);
    const requestId = res.headers.get('x-request-id')!;
    const keys = await objects.list('access-log/', undefined, 10_000);
    const entry = JSON.parse(Buffer.from((await objects.get(keys.find((k) => k.endsWith(requestId))!))!).toString('utf8')) as { breakGlass: boolean; reason: string; clinician: string };
    assert.deepEqual([entry.breakGlass, entry.reason, entry.clinician], [true, 'break-glass', er.address]);
  });

  it('anchors the access log; the patient\'s gateway reads each entry with a proof that AuditLog accepts', async () => {
    await until(() => service.follower.ready, 'the follower caught up again');
    const a = service.anchorer!;
    await sleep(400);
    const record: AccessLogAnchorRecord | undefined = await a.anchorOnce();
    assert.ok(record, 'something was anchored');
    assert.ok(record.count >= 6, `entries anchored: ${record.count}`);
    assert.ok(record.tx, 'a transaction');
    const auditLog = connectContracts(deployment, provider).auditLog;
    assert.equal(await auditLog.isRecorded(auditor.address, record.root), true);
    const gwClient = new IngestClient(url, gw);
    const r = await gwClient.request('GET', `/v1/access-log?patientAccount=${patient.address}`);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const body = r.json as unknown as { auditor: string; entries: { key: string; entry: string; hash: string; anchor: { root: string; proof: string[] } | null }[] };
    assert.equal(body.auditor, auditor.address);
    const anchored = body.entries.filter((e) => e.anchor);
    assert.ok(anchored.length >= 6);
    const decisions = new Set<string>();
    for (const e of anchored) {
      assert.equal(keccak256(new TextEncoder().encode(e.entry)), e.hash);
      assert.equal(await auditLog.verifyEntry(auditor.address, e.anchor!.root, e.hash, e.anchor!.proof), true, e.key);
      const parsed = JSON.parse(e.entry) as { patient: string; clinician: string; decision: string };
      assert.equal(parsed.patient, patient.address);
      decisions.add(`${parsed.clinician}:${parsed.decision}`);
      // An altered entry does not verify against the same proof.
      const altered = keccak256(new TextEncoder().encode(e.entry.replace(/"ts":(\d+)/, (_m, t: string) => `"ts":${Number(t) + 1}`)));
      assert.equal(await auditLog.verifyEntry(auditor.address, e.anchor!.root, altered, e.anchor!.proof), false);
    }
    assert.ok(decisions.has(`${doc.address}:allow`) && decisions.has(`${prober.address}:deny`), [...decisions].join(' '));
    // Not another gateway's patient.
    const stranger = await new IngestClient(url, prober).request('GET', `/v1/access-log?patientAccount=${patient.address}`);
    assert.equal(stranger.status, 403, JSON.stringify(stranger.json));
    assert.equal(stranger.json?.error, 'not-a-gateway');
  });

  it('property: random access-log queries and anchor records get a 4xx or an answer, never a 5xx or a throw', async () => {
    const gwClient = new IngestClient(url, gw);
    await fc.assert(fc.asyncProperty(
      fc.oneof(fc.constant(patient.address), fc.string({ maxLength: 50 })), fc.option(fc.string({ maxLength: 60 })), fc.option(fc.string({ maxLength: 8 })),
      async (account, after, limit) => {
        const q = new URLSearchParams({ patientAccount: account, ...(after !== null && { after }), ...(limit !== null && { limit }) });
        const r = await gwClient.request('GET', `/v1/access-log?${q}`);
        assert.ok(r.status === 200 || (r.status >= 400 && r.status < 500), `${r.status} ${JSON.stringify(r.json)}`);
      },
    ), { numRuns: 60 });
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.string({ maxLength: 300 }), (bytes, text) => {
      parseAnchorRecord(bytes);
      parseAnchorRecord(new TextEncoder().encode(text));
    }));
  });

  it('an anchor whose record was lost is repaired without a second transaction', async () => {
    const c = new ClinicianClient(url, doc);
    await c.signIn();
    await c.patients();
    for await (const e of c.catalog(patient.address, T0, T0 + 60_000, 'hr')) void e;
    await sleep(400);
    // Anchor on chain as the anchorer would, then "crash" before the record is written.
    const { AccessLogAnchorer, AnchorRecords } = await import('../../../src/index.js');
    const auditLog = connectContracts(deployment, auditor).auditLog;
    let sent = 0;
    const crashing = new AccessLogAnchorer({
      store: { ...objects, put: async () => { throw new Error('crash'); }, get: (k) => objects.get(k), list: (p, a, l) => objects.list(p, a, l), describe: () => 'x' },
      auditor: auditor.address, records: new AnchorRecords(objects), settleMs: 300,
      auditLog: { anchorAccessLog: async (...a) => { sent++; return auditLog.anchorAccessLog(...a); }, isRecorded: (x, y) => auditLog.isRecorded(x, y) },
    });
    assert.equal(await crashing.anchorOnce(), undefined);
    assert.equal(sent, 1);
    const repaired = await service.anchorer!.anchorOnce();
    assert.ok(repaired, 'the record is written');
    assert.equal(repaired.tx, null, 'no second transaction: the root was found on chain');
    assert.equal(await connectContracts(deployment, provider).auditLog.isRecorded(auditor.address, repaired.root), true);
  });
});
