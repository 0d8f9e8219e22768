/**
 * The clinician API's bulk reads on a real ingest against a real anvil chain:
 *   - GET /v1/clinician/bundle: exactly the batches of the stream that the clinician's window
 *     allows (none outside the grant's data range), page by page with none twice and none missed,
 *     each body the batch its item names, each anchored batch with a Merkle proof that
 *     DataAnchor.verifyBatch accepts on chain; one access-log entry per request; every refusal
 *     (stream not granted, no grant, a range outside the window, banned, revoked) logged as a deny;
 *   - GET /v1/clinician/latest: for every patient the clinician may see now, the newest allowed
 *     batch of each asked and granted stream, with exactly the envelopes that open them; one
 *     access-log entry per patient;
 *   - AnchorTrees: one tree build per anchor record, bounded, and no tree for a missing record.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wallet, type JsonRpcProvider } from 'ethers';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import {
  AccessFollower, ANVIL_DEV_KEYS, MAX_DATA_TS, buildBatchTree, connectContracts, createProvider, deployOrLoad, patientRef, startAnvil, verifyBatchProof,
  type AnvilNode, type Deployment,
} from '@vitalgate/contracts';
import {
  MAX_BUNDLE_BATCHES, MAX_PROOF_IDS, STREAMS, encodeBundle, encodeCloudRecord, envelopePublicKey, parseDownloadBundle, randomEnvelopeSecretKey, sealBatch, sealEnvelope, sealSummary,
  type StreamName,
} from '@vitalgate/protocol';
import {
  AnchorTrees, ApiError, ChainClinicianAccess, ChainGatewayDirectory, ClinicianClient, EmbeddedCatalog, IngestClient, LocalObjectStore, MemoryReplayCache, SessionKeys,
  StoredAccessLog, anchorKey, buildIngest, envelopeKey, openWithEnvelopes, type AccessLogEntry, type ObjectStore,
} from '../../../src/index.js';

const DOMAIN = '127.0.0.1';
const T0 = Date.UTC(2026, 10, 2, 9);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

type Sealed = ReturnType<typeof sealBatch>;

/** `store` whose reads of batches fail while `fails()` (a disk error, storage down). */
const failingReads = (store: ObjectStore, fails: () => boolean): ObjectStore => ({
  put: (k, b) => store.put(k, b),
  get: (k) => (fails() && k.startsWith('batches/') ? Promise.reject(new Error('EIO: i/o error')) : store.get(k)),
  list: (p, a, l) => store.list(p, a, l),
  describe: () => store.describe(),
});

describe('clinician bulk reads: the bundle and latest endpoints, decided against the chain', function () {
  this.timeout(120_000);
  let node: AnvilNode;
  let provider: JsonRpcProvider;
  let deployment: Deployment;
  let dir: string;
  let app: FastifyInstance;
  let url: string;
  let objects: LocalObjectStore;
  let follower: AccessFollower;
  let gw: Wallet, p1: Wallet, p2: Wallet, doc: Wallet, stranger: Wallet, banned: Wallet, admin: Wallet;
  const docKey = randomEnvelopeSecretKey();
  const dk = (patient: string, epoch: number) => new Uint8Array(32).fill(epoch + (patient === 'bb-p1' ? 10 : 20));
  /** Everything uploaded, by account. */
  const stored = new Map<string, Sealed[]>();
  /** The anchors made: root → ids. */
  const anchors = new Map<string, string[]>();

  const seal = (patientId: string, stream: StreamName, seq: number, ts: number, epoch: number): Sealed => {
    const body = (n: number, t: number) => (stream === 'ecg' ? { seq: n, ts: t, rate: 250, samples: [1, 2, 3] } : stream === 'bp' ? { seq: n, ts: t, values: { sys: 120, dia: 80 } } : { seq: n, ts: t, values: { [stream]: 60 + (seq % 40) } });
    return sealBatch(dk(patientId, epoch), { stream, patientId, deviceId: 'band', epoch, seq, bodies: [body(2 * seq, ts), body(2 * seq + 1, ts + 500)] });
  };

  async function upload(account: string, batches: Sealed[]): Promise<void> {
    const up = new IngestClient(url, gw);
    for (let i = 0; i < batches.length; i += MAX_BUNDLE_BATCHES) {
      const chunk = batches.slice(i, i + MAX_BUNDLE_BATCHES);
      const body = encodeBundle(chunk.map((x) => ({
        item: { id: x.id, patientAccount: account, patient: x.header.patientId, stream: x.header.stream, device: x.header.deviceId, epoch: x.header.epoch, seq: x.header.seq, firstTs: x.header.firstTs, lastTs: x.header.lastTs, count: x.header.count },
        bytes: x.bytes,
      })));
      const r = await up.request('POST', '/v1/batches', body);
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.ok((r.json as { results: { status: number }[] }).results.every((x) => x.status === 201));
    }
    stored.set(account, [...(stored.get(account) ?? []), ...batches]);
  }

  async function anchor(account: string, batches: Sealed[]): Promise<string> {
    const tree = buildBatchTree(batches.map((b) => b.id));
    const r = (await (await connectContracts(deployment, gw).dataAnchor.anchor(tree.root, tree.count, T0, T0 + 1, 'bundle-test')).wait())!;
    const block = (await provider.getBlock(r.blockNumber))!;
    const record = encodeCloudRecord({
      v: 1, gateway: gw.address, root: tree.root, txHash: r.hash, blockNumber: r.blockNumber, blockTimestamp: block.timestamp,
      batches: batches.map((b) => ({ id: b.id, patientAccount: account, stream: b.header.stream, firstTs: b.header.firstTs })),
    });
    const put = await new IngestClient(url, gw).request('PUT', `/v1/anchors/${tree.root}`, record);
    assert.equal(put.status, 201, JSON.stringify(put.json));
    anchors.set(tree.root, batches.map((b) => b.id));
    return tree.root;
  }

  const accessLog = async (route: string): Promise<AccessLogEntry[]> => {
    const out: AccessLogEntry[] = [];
    for (const k of await objects.list('access-log/', undefined, 100_000)) {
      const e = JSON.parse(Buffer.from((await objects.get(k))!).toString('utf8')) as AccessLogEntry;
      if (e.route === route) out.push(e);
    }
    return out;
  };
  const bundleLog = () => accessLog('GET /v1/clinician/bundle');
  const latestLog = () => accessLog('GET /v1/clinician/latest');
  const proofsLog = () => accessLog('GET /v1/clinician/proofs/:patient');
  /** Makes every access-log append fail while set: at once, or after the batch reads are done. */
  let logFails: false | 'now' | 'late' = false;
  /** Makes every batch read of the service fail while true (the test's own reads still work). */
  let readFails = false;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vg-bundle-'));
    node = await startAnvil();
    provider = createProvider(node.url, node.chainId);
    admin = new Wallet(ANVIL_DEV_KEYS[0]!, provider);
    deployment = (await deployOrLoad(admin, join(dir, 'deployment.json'))).deployment;
    [gw, p1, p2, doc, stranger, banned] = [1, 2, 3, 4, 5, 6].map((i) => new Wallet(ANVIL_DEV_KEYS[i]!, provider)) as [Wallet, Wallet, Wallet, Wallet, Wallet, Wallet];
    const reg = connectContracts(deployment, admin).registry;
    await (await reg.registerGateway(gw.address)).wait();
    await (await reg.registerPatient(p1.address, patientRef('bb-p1'), gw.address)).wait();
    await (await reg.registerPatient(p2.address, patientRef('bb-p2'), gw.address)).wait();
    await (await reg.registerClinician(doc.address, envelopePublicKey(docKey))).wait();
    await (await reg.registerClinician(stranger.address, envelopePublicKey(randomEnvelopeSecretKey()))).wait();
    await (await reg.registerClinician(banned.address, envelopePublicKey(randomEnvelopeSecretKey()))).wait();
    objects = new LocalObjectStore(join(dir, 'objects'));
    const catalog = await EmbeddedCatalog.open(join(dir, 'catalog'));
    follower = new AccessFollower(connectContracts(deployment, provider), deployment);
    follower.start(200);
    const replay = new MemoryReplayCache();
    const siwe = { domain: DOMAIN, origin: `http://${DOMAIN}`, chainId: node.chainId };
    app = await buildIngest({
      store: failingReads(objects, () => readFails), catalog, directory: new ChainGatewayDirectory(deployment, provider, 0), replay, logger: pino({ level: 'silent' }),
      clinicians: {
        sessions: new SessionKeys(new Uint8Array(32).fill(7), replay),
        siwe,
        access: new ChainClinicianAccess(follower, connectContracts(deployment, provider).registry),
        // The stored log, unless a test makes appends fail (a full disk, storage down).
        accessLog: {
          append: (e) => (logFails === 'now'
            ? Promise.reject(new Error('no space left on device'))
            : logFails === 'late'
              ? new Promise((_, reject) => setTimeout(() => reject(new Error('no space left on device')), 300))
              : new StoredAccessLog(objects).append(e)),
        },
      },
    });
    url = await app.listen({ port: 0, host: DOMAIN });
    siwe.domain = new URL(url).host;
    siwe.origin = new URL(url).origin;
    // Patient 1, in the past: 700 hr batches a second apart over two epochs, 40 spo2 and 20 ecg.
    // Two anchors cover the first 300 hr (and the spo2) and the next 200 hr; the last 200 are not anchored yet.
    const hr = Array.from({ length: 700 }, (_, i) => seal('bb-p1', 'hr', i, T0 + i * 1000, i < 350 ? 1 : 2));
    const spo2 = Array.from({ length: 40 }, (_, i) => seal('bb-p1', 'spo2', 1000 + i, T0 + i * 5000, 1));
    const ecg = Array.from({ length: 20 }, (_, i) => seal('bb-p1', 'ecg', 2000 + i, T0 + i * 2000, 1));
    // Summaries of hr beside them (the edge seals them as batches of their own kind): a minute each for 12 minutes, and the hour.
    const minutes = Array.from({ length: 12 }, (_, m) => sealSummary(dk('bb-p1', 1), { kind: 'summary-1m', stream: 'hr', patientId: 'bb-p1', deviceId: 'band', epoch: 1, seq: 3000 + m, rows: [{ t: T0 + m * 60_000, p: 60_000, n: 60, v: { hr: [60, 80, 70, 60] } }] }));
    const hour = sealSummary(dk('bb-p1', 1), { kind: 'summary-1h', stream: 'hr', patientId: 'bb-p1', deviceId: 'band', epoch: 1, seq: 4000, rows: [{ t: T0, p: 3_600_000, n: 3600, v: { hr: [60, 80, 70, 3600] } }] });
    await upload(p1.address, [...hr, ...spo2, ...ecg, ...minutes, hour]);
    await anchor(p1.address, [...hr.slice(0, 300), ...spo2]);
    await anchor(p1.address, hr.slice(300, 500));
  });
  after(async () => {
    await follower?.stop();
    await app?.close();
    provider?.destroy();
    await node?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const grant = async (patient: Wallet, streams: StreamName[], from: number, until: number) =>
    (await (await connectContracts(deployment, patient).consent.grant(doc.address, streams.reduce((m, s) => m | (1 << STREAMS[s].id), 0), from, until, Math.floor(Date.now() / 1000) + 3600, 'treatment')).wait());
  const signedIn = async (w: Wallet) => {
    const c = new ClinicianClient(url, w);
    await c.signIn({ chainId: node.chainId });
    return c;
  };
  async function until(f: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
    const end = Date.now() + ms;
    while (!(await f())) {
      if (Date.now() > end) throw new Error(`timed out: ${what}`);
      await sleep(100);
    }
  }
  const refusal = async (p: Promise<unknown>) => {
    try {
      await p;
    } catch (e) {
      if (e instanceof ApiError) return [e.status, e.code];
      throw e;
    }
    return [200, 'allowed'];
  };

  it('a bundle holds exactly the batches of the stream the window allows, paged with none twice, each with a proof DataAnchor accepts', async () => {
    // The grant covers hr and spo2 readings in [T0 + 100 s, T0 + 599.5 s]: hr batches 100..599 (each spans 500 ms).
    const from = T0 + 100_000;
    const untilTs = T0 + 599_500;
    await grant(p1, ['hr', 'spo2'], from, untilTs);
    const c = await signedIn(doc);
    await until(async () => (await c.patients()).length === 1, 'the grant seen by ingest');
    const logBefore = (await bundleLog()).length;

    const hr = stored.get(p1.address)!.filter((b) => b.header.stream === 'hr' && b.header.kind === 'readings');
    const expected = hr.filter((b) => b.header.lastTs >= from && b.header.firstTs <= untilTs).map((b) => b.id);
    assert.equal(expected.length, 500);
    // Paged by 37 over the whole day: every allowed batch once, in catalog order, nothing else.
    const got: string[] = [];
    let pages = 0;
    let after: string | undefined;
    do {
      const page = await c.bundlePage(p1.address, 'hr', T0 - 3_600_000, T0 + 86_400_000, { limit: 37, ...(after && { after }) });
      assert.ok(page.items.length <= 37);
      page.items.forEach((it, i) => {
        assert.equal(sha(page.bodies[i]!), it.id);
        assert.deepEqual([it.patientAccount, it.patient, it.stream], [p1.address, 'bb-p1', 'hr']);
      });
      got.push(...page.items.map((it) => it.id));
      after = page.next ?? undefined;
      pages++;
    } while (after);
    assert.equal(new Set(got).size, got.length, 'no batch twice');
    assert.deepEqual(got, expected, 'exactly the allowed batches, in time order');
    assert.ok(pages >= Math.ceil(700 / 37) - 1, `${pages} pages`);

    // Unpaged: at most MAX_BUNDLE_BATCHES a response; the proofs lead to roots the gateway anchored.
    const items: { id: string; anchor?: { gateway: string; root: string; tx: string; block: number; proof: string[] } }[] = [];
    let responses = 0;
    for await (const { item } of c.bundle(p1.address, 'hr', from, untilTs + 1)) items.push(item);
    for (let a: string | undefined, first = true; first || a; first = false) {
      const page = await c.bundlePage(p1.address, 'hr', from, untilTs + 1, { ...(a && { after: a }) });
      assert.ok(page.items.length <= MAX_BUNDLE_BATCHES);
      responses++;
      a = page.next ?? undefined;
    }
    assert.equal(responses, 2, '500 batches in two responses of up to 256');
    assert.deepEqual(items.map((i) => i.id), expected);
    const anchoredIds = new Set([...anchors.values()].flat());
    const dataAnchor = connectContracts(deployment, provider).dataAnchor;
    const roots = new Set<string>();
    for (const it of items) {
      if (!anchoredIds.has(it.id)) {
        assert.equal(it.anchor, undefined, 'a batch not anchored yet has no anchor');
        continue;
      }
      assert.ok(it.anchor, `anchored batch ${it.id} has its anchor`);
      assert.equal(it.anchor.gateway, gw.address);
      assert.ok(anchors.get(it.anchor.root)!.includes(it.id), 'the root of the anchor that names it');
      assert.ok(verifyBatchProof(it.anchor.root, it.id, it.anchor.proof), 'the proof checks locally');
      roots.add(it.anchor.root);
    }
    assert.equal(items.filter((i) => i.anchor).length, 400, 'hr 100..499 are anchored');
    assert.equal(roots.size, 2);
    for (const root of roots) assert.equal(await dataAnchor.isRecorded(gw.address, root), true);
    for (const it of [items[0]!, items[250]!, items[399]!]) assert.equal(await dataAnchor.verifyBatch(gw.address, it.anchor!.root, `0x${it.id}`, it.anchor!.proof), true, 'DataAnchor accepts the proof');

    // spo2 is granted too; its batches carry the first anchor.
    const spo2: string[] = [];
    for await (const { item } of c.bundle(p1.address, 'spo2', 0, MAX_DATA_TS)) spo2.push(item.id);
    assert.deepEqual(spo2, stored.get(p1.address)!.filter((b) => b.header.stream === 'spo2' && b.header.lastTs >= from && b.header.firstTs <= untilTs).map((b) => b.id));

    // Kinds: readings is the default (no summary above); each summary kind alone, inside the window too.
    assert.deepEqual((await c.bundlePage(p1.address, 'hr', from, from + 10_000, { kind: 'readings' })).items.map((i) => i.id), expected.slice(0, 10));
    const summaryIds = async (kind: string) => { const out: string[] = []; for await (const { item } of c.bundle(p1.address, 'hr', T0 - 3_600_000, T0 + 86_400_000, { kind })) out.push(item.id); return out; };
    // A summary only when the grant covers its whole period: a minute's mean is made of every reading in it.
    const ofKind = (k: string) => stored.get(p1.address)!.filter((b) => b.header.kind === k && b.header.firstTs >= from && b.header.lastTs <= untilTs).map((b) => b.id);
    assert.deepEqual(await summaryIds('summary-1m'), ofKind('summary-1m'));
    assert.equal(ofKind('summary-1m').length, 7, 'minutes 2..8 lie inside the window; 1 and 9 only meet it');
    assert.deepEqual(await summaryIds('summary-1h'), [], 'the hour reaches outside the window');

    // One access-log entry per request, each an allow through the grant, naming stream and range.
    const log = (await bundleLog()).slice(logBefore);
    assert.equal(log.length, pages + responses + Math.max(1, Math.ceil(items.length / MAX_BUNDLE_BATCHES)) + 1 + 3);
    assert.ok(log.every((e) => e.decision === 'allow' && e.reason === 'grant' && e.clinician === doc.address && e.patient === p1.address && e.from !== undefined && e.to !== undefined));
    assert.deepEqual([...new Set(log.map((e) => e.stream))].sort(), ['hr', 'spo2']);
  });

  it('proofs for several batches in one request: anchored ones with a proof DataAnchor accepts, null for one not anchored yet; one decision, refused whole when one is outside the grant', async () => {
    // The grant of the test before: hr and spo2 in [T0 + 100 s, T0 + 599.5 s]; hr 100..499 anchored.
    const c = await signedIn(doc);
    const hr = stored.get(p1.address)!.filter((b) => b.header.stream === 'hr' && b.header.kind === 'readings');
    const spo2 = stored.get(p1.address)!.filter((b) => b.header.stream === 'spo2' && b.header.kind === 'readings' && b.header.firstTs >= T0 + 100_000);
    const anchoredIds = new Set([...anchors.values()].flat());
    const asked = [hr[150]!.id, hr[450]!.id, hr[550]!.id, spo2[0]!.id];
    const logBefore = (await proofsLog()).length;
    const got = await c.proofs(p1.address, asked);
    assert.deepEqual(Object.keys(got).sort(), [...asked].sort());
    const dataAnchor = connectContracts(deployment, provider).dataAnchor;
    for (const id of asked) {
      const a = got[id];
      if (!anchoredIds.has(id)) {
        assert.equal(a, null, `${id}: not anchored yet`);
        continue;
      }
      assert.ok(a, `${id}: anchored`);
      assert.ok(anchors.get(a.root)!.includes(id), 'the root of the anchor that names it');
      assert.equal(await dataAnchor.verifyBatch(gw.address, a.root, `0x${id}`, a.proof), true, 'DataAnchor accepts the proof');
    }
    assert.equal(got[hr[550]!.id], null, 'hr 550 is not anchored');
    assert.ok(got[hr[150]!.id], 'hr 150 is');
    // The same answer as the one-batch route, batch by batch.
    for (const id of asked.slice(0, 2)) {
      const one = await (await fetch(`${url}/v1/clinician/proofs/${p1.address}/${id}`, { headers: { authorization: `Bearer ${(c as unknown as { token: string }).token}` } })).json() as { anchor: unknown };
      assert.deepEqual(one.anchor, got[id]);
    }
    const log = (await proofsLog()).slice(logBefore);
    assert.equal(log.length, 1, 'one decision for the request');
    assert.deepEqual([log[0]!.decision, log[0]!.reason, log[0]!.stream], ['allow', 'grant', 'hr,spo2']);
    const headers = [hr[150]!, hr[450]!, hr[550]!, spo2[0]!].map((b) => b.header);
    assert.deepEqual([log[0]!.from, log[0]!.to], [Math.min(...headers.map((h) => h.firstTs)), Math.max(...headers.map((h) => h.lastTs))], 'the range the batches span');

    // One batch outside the grant refuses the whole request; nothing of it is answered.
    assert.deepEqual(await refusal(c.proofs(p1.address, [hr[150]!.id, hr[20]!.id])), [403, 'no-access']);
    assert.deepEqual((await proofsLog()).slice(-1).map((e) => [e.decision, e.reason]), [['deny', 'no-access']]);
    assert.deepEqual(await refusal(c.proofs(p1.address, ['ab'.repeat(32)])), [404, 'not-found']);
    assert.deepEqual(await refusal(c.proofs(p1.address, [])), [400, 'bad-id']);
    assert.deepEqual(await refusal(c.proofs(p1.address, ['AB'.repeat(32)])), [400, 'bad-id']);
    assert.deepEqual(await refusal(c.proofs(p1.address, hr.slice(100, 100 + MAX_PROOF_IDS + 1).map((b) => b.id))), [400, 'bad-id']);
    assert.equal(Object.keys(await c.proofs(p1.address, hr.slice(100, 100 + MAX_PROOF_IDS).map((b) => b.id))).length, MAX_PROOF_IDS);
    assert.deepEqual(await refusal((await signedIn(stranger)).proofs(p1.address, [hr[150]!.id])), [403, 'no-access']);
  });

  it('refuses, and logs as a deny, a stream not granted, a range outside the window, no grant, a ban; bad parameters are a 400', async () => {
    const c = await signedIn(doc);
    const toBan = await signedIn(banned);
    await (await connectContracts(deployment, admin).registry.ban(banned.address, 'test')).wait();
    const logBefore = (await bundleLog()).length;
    assert.deepEqual(await refusal(c.bundlePage(p1.address, 'ecg', 0, MAX_DATA_TS)), [403, 'no-access'], 'ecg is not granted');
    assert.deepEqual(await refusal(c.bundlePage(p1.address, 'hr', T0 + 700_000, T0 + 800_000)), [403, 'no-access'], 'after the grant\'s data range');
    assert.deepEqual(await refusal(c.bundlePage(p2.address, 'hr', 0, MAX_DATA_TS)), [403, 'no-access'], 'a patient who granted nothing');
    assert.deepEqual(await refusal((await signedIn(stranger)).bundlePage(p1.address, 'hr', 0, MAX_DATA_TS)), [403, 'no-access'], 'a clinician without a grant');
    // Banned after signing in: refused everything, each refusal logged; and it cannot sign in again.
    assert.deepEqual(await refusal(toBan.bundlePage(p1.address, 'hr', 0, MAX_DATA_TS)), [403, 'banned']);
    assert.deepEqual(await refusal(toBan.latest(['hr'])), [403, 'banned']);
    assert.deepEqual(await refusal(new ClinicianClient(url, banned).signIn({ chainId: node.chainId })), [403, 'banned']);
    const who = (a: string) => (a === doc.address ? 'doc' : a === stranger.address ? 'stranger' : 'banned');
    const log = (await bundleLog()).slice(logBefore);
    assert.deepEqual(log.map((e) => [e.decision, e.reason, e.stream, who(e.clinician)]), [
      ['deny', 'no-access', 'ecg', 'doc'], ['deny', 'no-access', 'hr', 'doc'], ['deny', 'no-access', 'hr', 'doc'], ['deny', 'no-access', 'hr', 'stranger'], ['deny', 'banned', 'hr', 'banned'],
    ]);
    assert.deepEqual((await latestLog()).map((e) => [e.decision, e.reason, who(e.clinician)]), [['deny', 'banned', 'banned']]);

    const token = await c.signIn({ chainId: node.chainId }).then(() => (c as unknown as { token: string }).token);
    const get = async (q: string) => {
      const r = await fetch(`${url}/v1/clinician/bundle?${q}`, { headers: { authorization: `Bearer ${token}` } });
      return [r.status, ((await r.json()) as { error: string }).error];
    };
    const base = `patientAccount=${p1.address}&from=0&to=${MAX_DATA_TS}`;
    assert.deepEqual(await get(base), [400, 'bad-metadata'], 'no stream');
    assert.deepEqual(await get(`${base}&stream=hr&kind=summary-5m`), [400, 'bad-metadata'], 'an unknown kind');
    assert.deepEqual(await get(`${base}&stream=hr&limit=0`), [400, 'bad-metadata'], 'limit 0');
    assert.deepEqual(await get(`${base}&stream=hr&after=../x`), [400, 'bad-cursor'], 'a cursor not ours');
    assert.deepEqual(await get(`patientAccount=0x12&from=0&to=1&stream=hr`), [400, 'bad-metadata'], 'not an account');
    assert.deepEqual(await get(`patientAccount=${p1.address}&from=5&to=5&stream=hr`), [400, 'bad-range']);
    assert.equal((await bundleLog()).length - logBefore, 5, 'a malformed request decides nothing');
  });

  it('latest: the newest allowed batch of each asked and granted stream of every patient, with exactly the envelopes that open them', async () => {
    // Taken here, not when the file loads: in the whole suite this test runs many minutes later,
    // and /latest looks back from the time of the request.
    const now = Date.now();
    // Recent data: patient 1 has hr (newest 2 s ago), spo2 (newest 5 min ago: found by the look-back),
    // bp and ecg; patient 2 has hr, whose newest batches are after its grant's data range.
    const p1Recent = [
      ...Array.from({ length: 30 }, (_, i) => seal('bb-p1', 'hr', 5000 + i, now - 62_000 + i * 2000, 7)),
      seal('bb-p1', 'spo2', 6000, now - 400_000, 6), seal('bb-p1', 'spo2', 6001, now - 300_000, 7),
      seal('bb-p1', 'bp', 6100, now - 20_000, 7), seal('bb-p1', 'ecg', 6200, now - 3_000, 7),
      // A new epoch whose envelope has not arrived, five batches into it (more than the catalog's
      // newest few that /latest looks at first): hr falls back to the newest batch it can open;
      // temp has no envelope at all, so its newest batch comes alone (the page shows it cannot open it).
      ...Array.from({ length: 5 }, (_, i) => seal('bb-p1', 'hr', 5100 + i, now - 3_500 + i * 500, 8)), seal('bb-p1', 'temp', 6300, now - 9_000, 9),
    ];
    const p2Recent = Array.from({ length: 20 }, (_, i) => seal('bb-p2', 'hr', i, now - 100_000 + i * 5000, 3));
    await upload(p1.address, p1Recent);
    await upload(p2.address, p2Recent);
    for (const [patient, s, epoch] of [['bb-p1', 'hr', 7], ['bb-p1', 'spo2', 7], ['bb-p1', 'spo2', 6], ['bb-p1', 'bp', 7], ['bb-p1', 'ecg', 7], ['bb-p2', 'hr', 3]] as const) {
      const account = patient === 'bb-p1' ? p1.address : p2.address;
      await objects.put(envelopeKey(doc.address, account, s, epoch), sealEnvelope(envelopePublicKey(docKey), dk(patient, epoch), { patientId: patient, stream: s, epoch }));
    }
    // Patient 1 grants hr, spo2, temp and bp for all time; patient 2 hr up to 40 s ago.
    await grant(p1, ['hr', 'spo2', 'temp', 'bp'], 0, MAX_DATA_TS);
    const p2Until = now - 40_000;
    await grant(p2, ['hr'], 0, p2Until);
    const c = await signedIn(doc);
    await until(async () => (await c.patients()).length === 2 && (await c.patients()).every((p) => p.access[0]!.until !== T0 + 599_500), 'both grants seen');
    const logBefore = (await latestLog()).length;
    assert.equal(logBefore, 1, 'the banned clinician\'s refusal');

    const latest = await c.latest(['hr', 'spo2', 'temp', 'bp']);
    const newest = (bs: Sealed[]) => bs.reduce((a, b) => (b.header.lastTs > a.header.lastTs ? b : a));
    const p1Of = (s: StreamName, epoch?: number) => p1Recent.filter((b) => b.header.stream === s && (epoch === undefined || b.header.epoch === epoch));
    assert.deepEqual(new Set(latest.map((p) => p.patientAccount)), new Set([p1.address, p2.address]));
    const one = latest.find((p) => p.patientAccount === p1.address)!;
    const two = latest.find((p) => p.patientAccount === p2.address)!;
    assert.deepEqual(one.access.map((a) => [a.via, [...a.streams].sort()]), [['grant', ['bp', 'hr', 'spo2', 'temp']]]);
    assert.deepEqual(new Map(one.batches.map((b) => [b.stream, b.id])), new Map([
      ['hr', newest(p1Of('hr', 7)).id], ['spo2', newest(p1Of('spo2')).id], ['bp', p1Of('bp')[0]!.id], ['temp', p1Of('temp')[0]!.id],
    ]), 'hr: the newest with an envelope (epoch 7, not 8); temp: the newest, though nothing opens it; no ecg (not asked)');
    const allowed2 = p2Recent.filter((b) => b.header.firstTs <= p2Until);
    assert.ok(allowed2.length < p2Recent.length);
    assert.deepEqual(two.batches.map((b) => b.id), [newest(allowed2).id], 'patient 2: the newest batch inside its grant, not the newest there is');
    assert.deepEqual(one.envelopes.map((e) => `${e.stream}/${e.epoch}`).sort(), ['bp/7', 'hr/7', 'spo2/7'], 'the envelopes these batches need, no other');
    assert.deepEqual(two.envelopes.map((e) => `${e.stream}/${e.epoch}`), ['hr/3']);
    // They open with the clinician's key, in this process, to the readings sealed.
    for (const p of latest) {
      const envelopes = new Map(p.envelopes.map((e) => [`${e.stream}/${e.epoch}`, Uint8Array.from(Buffer.from(e.envelope, 'base64'))]));
      for (const b of p.batches) {
        const bytes = Uint8Array.from(Buffer.from(b.sealed, 'base64'));
        assert.equal(sha(bytes), b.id);
        const o = openWithEnvelopes(docKey, envelopes, b.id, bytes);
        if (b.stream === 'temp') {
          assert.match(o.ok ? '' : o.reason, /no envelope for temp epoch 9/);
          continue;
        }
        assert.ok(o.ok, o.ok ? '' : o.reason);
        assert.equal(o.value.readings.length, 2);
      }
    }
    // One allow per patient, naming the streams asked and granted.
    const log = (await latestLog()).slice(logBefore);
    assert.deepEqual(log.map((e) => [e.patient, e.decision, e.reason, e.stream]).sort(), [[p1.address, 'allow', 'grant', 'hr,spo2,temp,bp'], [p2.address, 'allow', 'grant', 'hr']].sort());
    assert.equal(new Set(log.map((e) => e.requestId)).size, 2);

    // Paged one patient at a time: the same answer, in account order, each patient once.
    const paged = await c.latest(['hr', 'spo2', 'temp', 'bp'], { limit: 1 });
    assert.deepEqual(paged.map((p) => p.patientAccount), [p1.address, p2.address].sort((a, b) => (a.toLowerCase() < b.toLowerCase() ? -1 : 1)));
    assert.deepEqual(paged.map((p) => [p.patientAccount, p.batches.map((b) => b.id).sort()]).sort(), latest.map((p) => [p.patientAccount, p.batches.map((b) => b.id).sort()]).sort());
    const logPaged = (await latestLog()).length;

    // A stranger sees no patient and reads nothing; a bad stream list, limit or cursor is a 400.
    assert.deepEqual(await (await signedIn(stranger)).latest(['hr']), []);
    assert.deepEqual(await refusal(c.latest(['hr', 'nope' as StreamName])), [400, 'bad-metadata']);
    const token = (c as unknown as { token: string }).token;
    const get = async (q: string) => {
      const r = await fetch(`${url}/v1/clinician/latest?streams=hr&${q}`, { headers: { authorization: `Bearer ${token}` } });
      return [r.status, ((await r.json()) as { error: string }).error];
    };
    assert.deepEqual(await get('limit=0'), [400, 'bad-metadata']);
    assert.deepEqual(await get('after=x'), [400, 'bad-cursor']);
    assert.equal((await latestLog()).length - logPaged, 0, 'a refused request lists no patient');
    assert.equal(logPaged - logBefore, 4, 'one allow per patient listed, paged or not');

    // The log cannot be written: the request fails as a whole (the batches are read beside the
    // appends, but nothing is sent unless every entry is durable), and it answers again once it can.
    // Failing at once, or only once the reads are done (their batches are in hand by then).
    const unavailable = async (why: string) => {
      const r = await fetch(`${url}/v1/clinician/latest?streams=hr,spo2`, { headers: { authorization: `Bearer ${token}` } });
      const text = await r.text();
      assert.equal(r.status, 503, `${why}: ${text}`);
      assert.equal((JSON.parse(text) as { error: string }).error, 'storage-unavailable', why);
      assert.ok(!text.includes('"sealed"'), `${why}: no batch in a refused answer`);
    };
    for (const when of ['now', 'late'] as const) {
      logFails = when;
      try {
        await unavailable(`the log failing ${when}`);
      } finally {
        logFails = false;
      }
    }
    assert.equal((await latestLog()).length, logPaged, 'nothing logged while the log failed');
    assert.ok((await c.latest(['hr'])).length > 0, 'answers again once the log can be written');
    assert.equal((await latestLog()).length - logPaged, 2, 'and logs that answer');
    // The batches cannot be read: refused too, although the access was logged (it was decided).
    readFails = true;
    try {
      await unavailable('reads failing');
    } finally {
      readFails = false;
    }
    assert.equal((await latestLog()).length - logPaged, 4, 'the decision is logged even when the read then fails');
    assert.ok((await c.latest(['hr'])).length > 0, 'answers again once the batches can be read');

    // Revoked: patient 2 leaves the answer at once; its bundle is refused and the refusal logged.
    await (await connectContracts(deployment, p2).consent.revoke(doc.address)).wait();
    const t = Date.now();
    await until(async () => (await c.latest(['hr'])).every((p) => p.patientAccount !== p2.address), 'patient 2 gone after the revoke', 2000);
    assert.ok(Date.now() - t < 2000);
    assert.deepEqual((await c.latest(['hr'])).map((p) => p.patientAccount), [p1.address]);
    assert.deepEqual(await refusal(c.bundlePage(p2.address, 'hr', 0, MAX_DATA_TS)), [403, 'no-access']);
    assert.deepEqual((await bundleLog()).at(-1)!.decision, 'deny');
  });

  it('AnchorTrees: one build per record however many proofs, bounded, and no tree (not remembered) for a missing record', async () => {
    const trees = new AnchorTrees(objects, 1, 1_000_000);
    const [r1, r2] = [...anchors.keys()];
    const ids1 = anchors.get(r1!)!;
    const proofs = await Promise.all(ids1.slice(0, 50).map((id) => trees.proof(gw.address, r1!, id)));
    assert.equal(trees.builds, 1, 'concurrent asks share one build');
    proofs.forEach((p, i) => assert.ok(verifyBatchProof(r1!, ids1[i]!, p!)));
    assert.equal(await trees.proof(gw.address, r1!, anchors.get(r2!)![0]!), null, 'a batch the record does not name');
    await trees.proof(gw.address, r2!, anchors.get(r2!)![0]!);
    assert.deepEqual([trees.builds, trees.size], [2, 1], 'bounded to one tree');
    await trees.proof(gw.address, r1!, ids1[0]!);
    assert.equal(trees.builds, 3, 'the evicted tree is built again');
    const missing = `0x${'cd'.repeat(32)}`;
    assert.equal(await trees.tree(gw.address, missing), null);
    assert.equal(trees.size, 1, 'a missing record is not remembered');
    assert.equal(await objects.get(anchorKey(gw.address, missing)), undefined);
    // Leaves bound: a bound below one tree keeps only the newest.
    const small = new AnchorTrees(objects, 10, 100);
    await small.tree(gw.address, r1!);
    await small.tree(gw.address, r2!);
    assert.equal(small.size, 1);
  });

  it('a download bundle parses as one: the bytes on the wire are VGBB with anchors and a next cursor', async () => {
    const c = await signedIn(doc);
    const token = (c as unknown as { token: string }).token;
    const res = await fetch(`${url}/v1/clinician/bundle?patientAccount=${p1.address}&stream=hr&from=0&to=${MAX_DATA_TS}&limit=3`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    assert.match(res.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    const p = parseDownloadBundle(new Uint8Array(await res.arrayBuffer()));
    assert.ok(p.ok, p.ok ? '' : p.reason);
    assert.equal(p.value.items.length, 3);
    assert.equal(typeof p.value.next, 'string');
    assert.ok(p.value.items.every((it) => it.anchor && it.anchor.proof.length > 0));
  });
});
