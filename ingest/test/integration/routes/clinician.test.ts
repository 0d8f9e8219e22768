/**
 * Care teams on a real ingest against a real anvil chain: Sign-In with Ethereum (each refusal
 * named), sessions by cookie or bearer and sign-out, and the clinician API deciding every request
 * against the chain: a clinician granted hr sees hr and only hr, every decision is in the access
 * log, a revoke reaches the API within 2 s, and a chain outage fails closed (503).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wallet, type JsonRpcProvider } from 'ethers';
import type { FastifyInstance } from 'fastify';
import fc from 'fast-check';
import pino from 'pino';
import { SiweMessage } from 'siwe';
import { AccessFollower, ANVIL_DEV_KEYS, MAX_DATA_TS, connectContracts, createProvider, deployOrLoad, patientRef, startAnvil, type AnvilNode, type Deployment } from '@vitalgate/contracts';
import { STREAMS, envelopePublicKey, randomEnvelopeSecretKey, sealBatch, sealEnvelope } from '@vitalgate/protocol';
import {
  ChainClinicianAccess, ChainGatewayDirectory, EmbeddedCatalog, IngestClient, LocalObjectStore, MemoryReplayCache, SessionKeys, StoredAccessLog,
  batchQuery, buildIngest, type AccessLogEntry,
} from '../../../src/index.js';

const DOMAIN = 'care.example.org';
const ORIGIN = 'https://care.example.org';
const T0 = Date.UTC(2026, 11, 3, 10);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('clinicians: SIWE sign-in and the clinician API, decided against the chain', function () {
  this.timeout(90_000);
  let node: AnvilNode;
  let provider: JsonRpcProvider;
  let deployment: Deployment;
  let dir: string;
  let app: FastifyInstance;
  let url: string;
  let objects: LocalObjectStore;
  let follower: AccessFollower;
  let gw: Wallet, patient: Wallet, doc: Wallet, stranger: Wallet, banned: Wallet, admin: Wallet;
  let chainId: number;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vg-clinician-'));
    node = await startAnvil();
    chainId = node.chainId;
    provider = createProvider(node.url, node.chainId);
    admin = new Wallet(ANVIL_DEV_KEYS[0]!, provider);
    deployment = (await deployOrLoad(admin, join(dir, 'deployment.json'))).deployment;
    [gw, patient, doc, stranger, banned] = [1, 2, 3, 4, 5].map((i) => new Wallet(ANVIL_DEV_KEYS[i]!, provider)) as [Wallet, Wallet, Wallet, Wallet, Wallet];
    const reg = connectContracts(deployment, admin).registry;
    await (await reg.registerGateway(gw.address)).wait();
    await (await reg.registerPatient(patient.address, patientRef('cl-p1'), gw.address)).wait();
    await (await reg.registerClinician(doc.address, envelopePublicKey(randomEnvelopeSecretKey()))).wait();
    await (await reg.registerClinician(banned.address, envelopePublicKey(randomEnvelopeSecretKey()))).wait();
    await (await reg.ban(banned.address, 'test')).wait();
    objects = new LocalObjectStore(join(dir, 'objects'));
    const catalog = await EmbeddedCatalog.open(join(dir, 'catalog'));
    follower = new AccessFollower(connectContracts(deployment, provider), deployment);
    follower.start(200);
    const replay = new MemoryReplayCache();
    app = await buildIngest({
      store: objects, catalog, directory: new ChainGatewayDirectory(deployment, provider, 0), replay, logger: pino({ level: 'silent' }),
      clinicians: {
        sessions: new SessionKeys(new Uint8Array(32).fill(7), replay),
        siwe: { domain: DOMAIN, origin: ORIGIN, chainId },
        access: new ChainClinicianAccess(follower, connectContracts(deployment, provider).registry),
        accessLog: new StoredAccessLog(objects),
        // A slow poll, so that a batch reaching the live feed in time can only have been pushed.
        feedIntervalMs: 5_000,
      },
    });
    url = await app.listen({ port: 0, host: '127.0.0.1' });
    // Two hr batches and one ecg batch of the patient, uploaded by its gateway.
    const up = new IngestClient(url, gw);
    for (const [stream, seq] of [['hr', 0], ['hr', 1], ['ecg', 2]] as const) {
      const body = stream === 'ecg' ? { seq, ts: T0 + seq * 1000, rate: 250, samples: [1, 2, 3] } : { seq, ts: T0 + seq * 1000, values: { hr: 70 } };
      const s = sealBatch(new Uint8Array(32).fill(1), { stream, patientId: 'cl-p1', deviceId: 'band', epoch: 1, seq, bodies: [body] });
      assert.equal((await up.request('PUT', `/v1/batches/${s.id}${batchQuery(s.header, patient.address)}`, s.bytes)).status, 201);
    }
  });
  after(async () => {
    await follower?.stop();
    await app?.close();
    provider?.destroy();
    await node?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const http = async (method: string, path: string, o: { json?: unknown; token?: string; cookie?: string; headers?: Record<string, string> } = {}) => {
    const res = await fetch(url + path, {
      method,
      headers: { ...(o.json !== undefined && { 'content-type': 'application/json' }), ...(o.token && { authorization: `Bearer ${o.token}` }), ...(o.cookie && { cookie: o.cookie }), ...o.headers },
      ...(o.json !== undefined && { body: JSON.stringify(o.json) }),
    });
    const text = await res.text();
    let json: Record<string, unknown> = {};
    try { json = JSON.parse(text) as Record<string, unknown>; } catch { /* bytes */ }
    return { status: res.status, json, headers: res.headers, text };
  };
  async function message(w: Wallet, over: Partial<SiweMessage> = {}): Promise<{ message: string; signature: string }> {
    const { nonce } = (await http('GET', '/v1/auth/nonce')).json as { nonce: string };
    const m = new SiweMessage({ domain: DOMAIN, address: w.address, uri: `${ORIGIN}/`, version: '1', chainId, nonce, issuedAt: new Date().toISOString(), statement: 'Sign in to Vitalgate', ...over });
    const text = m.prepareMessage();
    return { message: text, signature: await w.signMessage(text) };
  }
  const signIn = async (w: Wallet) => {
    const r = await http('POST', '/v1/auth/signin', { json: await message(w) });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    return { token: r.json.token as string, cookie: r.headers.get('set-cookie')! };
  };

  it('signs in with SIWE: a session by cookie (HttpOnly, Secure, SameSite=Strict) or bearer; sign-out ends it', async () => {
    const { token, cookie } = await signIn(doc);
    assert.match(cookie, /^vg_session=[^;]+; Path=\/; HttpOnly; Secure; SameSite=Strict; Max-Age=900$/);
    assert.deepEqual((await http('GET', '/v1/auth/session', { token })).json.address, doc.address);
    assert.equal((await http('GET', '/v1/auth/session', { cookie: cookie.split(';')[0]! })).json.address, doc.address);
    assert.equal((await http('POST', '/v1/auth/signout', { token })).status, 200);
    const after = await http('GET', '/v1/auth/session', { token });
    assert.deepEqual([after.status, after.json.error], [401, 'signed-out']);
    const none = await http('GET', '/v1/auth/session');
    assert.deepEqual([none.status, none.json.error], [401, 'no-session']);
    const forged = await http('GET', '/v1/auth/session', { token: `${token.split('.')[0]}.${Buffer.alloc(32).toString('base64url')}` });
    assert.deepEqual([forged.status, forged.json.error], [401, 'bad-session']);
  });

  it('refuses a request carried by the session cookie from another origin (CSRF); the same origin, or a bearer, goes through', async () => {
    const { cookie } = await signIn(doc);
    const jar = cookie.split(';')[0]!;
    const alive = async () => (await http('GET', '/v1/auth/session', { cookie: jar })).status === 200;
    const host = new URL(url).host;
    const refused: Array<[string, Record<string, string>]> = [
      ['another origin', { origin: 'https://evil.example.org' }],
      ['a sibling origin on the same site (port)', { origin: `http://${host.split(':')[0]}:1` }],
      ['Fetch Metadata: cross-site', { 'sec-fetch-site': 'cross-site', origin: url }],
      ['Fetch Metadata: same-site', { 'sec-fetch-site': 'same-site' }],
      ['no Origin at all', {}],
      ['an Origin that is not a URL', { origin: 'null' }],
      // The Host header is the client's word: the origin must be the one the service is configured with.
      ['an Origin naming the host asked, not the service origin', { origin: url }],
      ['the service origin on another scheme', { origin: ORIGIN.replace('https:', 'http:') }],
    ];
    for (const [what, headers] of refused) {
      const r = await http('POST', '/v1/auth/signout', { cookie: jar, headers });
      assert.deepEqual([r.status, r.json.error], [403, 'cross-site'], what);
      assert.ok(await alive(), `${what}: the session is untouched`);
    }
    // A read by cookie is refused too when the browser says it comes from elsewhere (it writes the
    // access log in the clinician's name); typed into the address bar, or with no Fetch Metadata, it goes.
    for (const site of ['cross-site', 'same-site']) {
      const r = await http('GET', '/v1/auth/session', { cookie: jar, headers: { 'sec-fetch-site': site } });
      assert.deepEqual([r.status, r.json.error], [403, 'cross-site'], `GET with Sec-Fetch-Site: ${site}`);
    }
    for (const headers of [{ 'sec-fetch-site': 'none' }, { 'sec-fetch-site': 'same-origin' }, {}] as Array<Record<string, string>>) {
      assert.equal((await http('GET', '/v1/auth/session', { cookie: jar, headers })).status, 200, JSON.stringify(headers));
    }
    const none = await http('POST', '/v1/auth/signout', { cookie: jar, headers: { 'sec-fetch-site': 'none' } });
    assert.deepEqual([none.status, none.json.error], [403, 'cross-site'], 'Sec-Fetch-Site none lets reads through, not a sign-out');
    // Signing out from this origin goes through.
    assert.equal((await http('POST', '/v1/auth/signout', { cookie: jar, headers: { 'sec-fetch-site': 'same-origin' } })).status, 200);
    assert.equal(await alive(), false);
    const second = (await signIn(doc)).cookie.split(';')[0]!;
    assert.equal((await http('POST', '/v1/auth/signout', { cookie: second, headers: { origin: ORIGIN } })).status, 200, 'an Origin naming the service origin');
    // A bearer is sent only by script holding the token: no origin needed.
    const { token } = await signIn(doc);
    assert.equal((await http('POST', '/v1/auth/signout', { token })).status, 200);
  });

  it('refuses each bad sign-in with its reason', async () => {
    const now = Date.now();
    const replayed = await message(doc);
    assert.equal((await http('POST', '/v1/auth/signin', { json: replayed })).status, 200);
    const cases: Array<[string, () => Promise<unknown>, number, string]> = [
      ['malformed', async () => ({ message: 'hello', signature: '0x00' }), 400, 'malformed'],
      ['wrong domain', () => message(doc, { domain: 'evil.example.org' }), 401, 'wrong-domain'],
      ['wrong URI', () => message(doc, { uri: 'https://evil.example.org/' }), 401, 'wrong-uri'],
      ['wrong chain', () => message(doc, { chainId: chainId + 1 }), 401, 'wrong-chain'],
      ['expired', () => message(doc, { expirationTime: new Date(now - 1000).toISOString() }), 401, 'expired'],
      ['not yet valid', () => message(doc, { notBefore: new Date(now + 600_000).toISOString() }), 401, 'not-yet-valid'],
      ['issued long ago', () => message(doc, { issuedAt: new Date(now - 3_600_000).toISOString() }), 401, 'stale-message'],
      ['forged signature', async () => ({ ...(await message(doc)), signature: (await message(stranger)).signature }), 401, 'bad-signature'],
      ['a nonce not ours', () => message(doc, { nonce: 'abcdef0123456789' }), 401, 'unknown-nonce'],
      ['replayed', async () => replayed, 401, 'nonce-used'],
      ['not a clinician', () => message(stranger), 403, 'not-a-clinician'],
      ['banned', () => message(banned), 403, 'banned'],
    ];
    for (const [what, make, status, code] of cases) {
      const r = await http('POST', '/v1/auth/signin', { json: await make() });
      assert.deepEqual([r.status, r.json.error], [status, code], what);
      assert.equal(r.headers.get('set-cookie'), null, `${what}: no session`);
    }
  });

  it('property: random sign-in bodies and session tokens get a 4xx with a JSON error, never a 5xx', async () => {
    const valid = await message(doc);
    await fc.assert(fc.asyncProperty(
      fc.oneof(fc.string({ maxLength: 300 }), fc.constant(valid.message), fc.constant(valid.message.replace('Chain ID', 'Chain  ID'))), fc.oneof(fc.string({ maxLength: 140 }), fc.stringMatching(/^0x[0-9a-f]{130}$/)), fc.string({ maxLength: 120 }),
      async (msg, signature, token) => {
        const r = await http('POST', '/v1/auth/signin', { json: { message: msg, signature } });
        assert.ok(r.status >= 400 && r.status < 500, `signin ${r.status}`);
        assert.equal(typeof r.json.error, 'string');
        const t = await http('GET', '/v1/auth/session', { token: token.replace(/[^\x21-\x7e]/g, 'x') || 'x' });
        assert.ok(t.status === 401, `session ${t.status}`);
      },
    ), { numRuns: 80 });
  });

  it('the clinician API: a grant of hr shows hr only; every decision is logged; a revoke is refused within 2 s', async () => {
    const { token } = await signIn(doc);
    assert.deepEqual((await http('GET', '/v1/clinician/patients', { token })).json, { patients: [] });
    const none = await http('GET', `/v1/clinician/catalog/batches?patientAccount=${patient.address}&from=0&to=${MAX_DATA_TS}`, { token });
    assert.deepEqual([none.status, none.json.error], [403, 'no-access'], 'no grant yet');

    const consent = connectContracts(deployment, patient).consent;
    await (await consent.grant(doc.address, 1 << STREAMS.hr.id, 0, MAX_DATA_TS, Math.floor(Date.now() / 1000) + 3600, 'treatment')).wait();
    await sleep(600);
    const patients = (await http('GET', '/v1/clinician/patients', { token })).json as { patients: Array<{ patientAccount: string; access: Array<{ via: string; streams: string[] }> }> };
    assert.deepEqual(patients.patients.map((p) => [p.patientAccount, p.access.map((a) => [a.via, a.streams])]), [[patient.address, [['grant', ['hr']]]]]);

    const all = await http('GET', `/v1/clinician/catalog/batches?patientAccount=${patient.address}&from=0&to=${MAX_DATA_TS}`, { token });
    assert.equal(all.status, 200, JSON.stringify(all.json));
    const entries = all.json.entries as Array<{ id: string; stream: string }>;
    assert.deepEqual(entries.map((e) => e.stream), ['hr', 'hr'], 'the ecg batch is not listed');
    const ecg = await http('GET', `/v1/clinician/catalog/batches?patientAccount=${patient.address}&from=0&to=${MAX_DATA_TS}&stream=ecg`, { token });
    assert.deepEqual([ecg.status, ecg.json.error], [403, 'no-access']);
    const bytes = await http('GET', `/v1/clinician/batches/${patient.address}/${entries[0]!.id}`, { token });
    assert.equal(bytes.status, 200);
    const ecgIds = (await objects.list(`batches/${patient.address}/`, undefined, 10)).map((k) => k.split('/')[2]!).filter((id) => !entries.some((e) => e.id === id));
    const ecgBytes = await http('GET', `/v1/clinician/batches/${patient.address}/${ecgIds[0]!}`, { token });
    assert.deepEqual([ecgBytes.status, ecgBytes.json.error], [403, 'no-access']);

    // The clinician's envelopes, as the patient's gateway uploaded them.
    const env = sealEnvelope(envelopePublicKey(randomEnvelopeSecretKey()), new Uint8Array(32).fill(2), { patientId: 'cl-p1', stream: 'hr', epoch: 1 });
    assert.equal((await new IngestClient(url, gw).request('PUT', `/v1/envelopes/${patient.address}/${doc.address}/hr/1`, env)).status, 201);
    const envs = await http('GET', `/v1/clinician/envelopes?patientAccount=${patient.address}`, { token });
    assert.deepEqual(envs.json.envelopes, [{ stream: 'hr', epoch: 1, envelope: Buffer.from(env).toString('base64') }]);

    // Every decision, allowed or denied, is in the access log.
    const log: AccessLogEntry[] = [];
    for (const k of await objects.list('access-log/', undefined, 1000)) log.push(JSON.parse(Buffer.from((await objects.get(k))!).toString('utf8')) as AccessLogEntry);
    assert.deepEqual(log.map((e) => [e.decision, e.reason, e.stream ?? null]).sort(), [
      ['allow', 'grant', 'hr'], ['allow', 'grant', null], ['allow', 'grant', null], ['deny', 'no-access', 'ecg'], ['deny', 'no-access', 'ecg'], ['deny', 'no-access', null],
    ].sort());
    assert.ok(log.every((e) => e.clinician === doc.address && e.patient === patient.address && /^[0-9a-f-]{36}$/.test(e.requestId)));

    // Revoked: refused at the API within 2 s.
    const t = Date.now();
    await (await consent.revoke(doc.address)).wait();
    for (;;) {
      const r = await http('GET', `/v1/clinician/batches/${patient.address}/${entries[0]!.id}`, { token });
      if (r.status === 403) break;
      assert.ok(Date.now() - t < 2000, `still allowed ${Date.now() - t} ms after the revoke`);
      await sleep(50);
    }
    assert.ok(Date.now() - t < 2000);
  });

  it('a sign-in asks the chain about all the clinician\'s patients in one question; a request then, or two at the same moment, asks nothing more', async () => {
    const access = new ChainClinicianAccess(follower, connectContracts(deployment, provider).registry);
    const patients = await access.patientsOf(doc.address);
    assert.ok(patients.length > 0, 'the clinician was granted a patient earlier');
    const questions: string[][] = [];
    const original = follower.windowsOfPatients;
    follower.windowsOfPatients = (ps: readonly string[], c: string) => { questions.push([...ps]); return original.call(follower, ps, c); };
    try {
      access.warm(doc.address);
      for (const end = Date.now() + 10_000; questions.length === 0; await new Promise((r) => setTimeout(r, 20))) {
        if (Date.now() > end) throw new Error('the warm-up asked the chain nothing');
      }
      assert.equal(questions.length, 1, 'one question for every patient');
      assert.deepEqual(new Set(questions[0]), new Set(patients));
      const [a, b, all] = await Promise.all([access.windows(doc.address, patients[0]!), access.windows(doc.address, patients[0]!), access.windowsOfPatients(doc.address, patients)]);
      assert.deepEqual(a, b);
      assert.equal(questions.length, 1, 'answered from the warm-up, not asked again');
      // The same answers as asking the chain patient by patient.
      for (const [i, p] of patients.entries()) assert.deepEqual(all[i], await original.call(follower, [p], doc.address).then((w) => w[0]));
      // Another clinician's question is their own: asked once though asked twice at the same moment.
      await Promise.all([access.windows(banned.address, patients[0]!), access.windows(banned.address, patients[0]!)]);
      assert.equal(questions.length, 2);
      assert.deepEqual(questions[1], [patients[0]]);
    } finally {
      follower.windowsOfPatients = original;
    }
  });

  it('the live feed (server-sent events) sends each new batch the clinician may read, and ends when access is revoked', async () => {
    const { token } = await signIn(doc);
    const consent = connectContracts(deployment, patient).consent;
    await (await consent.grant(doc.address, 1 << STREAMS.hr.id, 0, MAX_DATA_TS, Math.floor(Date.now() / 1000) + 3600, 'treatment')).wait();
    await sleep(600);
    const res = await fetch(`${url}/v1/clinician/feed?patientAccount=${patient.address}`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
    const reader = res.body!.getReader();
    let text = '';
    const readUntil = async (re: RegExp, ms: number) => {
      const end = Date.now() + ms;
      while (!re.test(text) && Date.now() < end) {
        const chunk = await Promise.race([reader.read(), sleep(end - Date.now()).then(() => undefined)]);
        if (!chunk || chunk.done) break;
        text += Buffer.from(chunk.value).toString('utf8');
      }
      return re.test(text);
    };
    // A batch uploaded now (its first reading is recent) arrives on the feed; an ecg one never does.
    const up = new IngestClient(url, gw);
    const now = Date.now();
    await readUntil(/vitalgate live feed/, 2000);
    let uploaded = 0;
    for (const [stream, seq] of [['hr', 10], ['ecg', 11]] as const) {
      const body = stream === 'ecg' ? { seq, ts: now, rate: 250, samples: [1] } : { seq, ts: now, values: { hr: 71 } };
      const s = sealBatch(new Uint8Array(32).fill(1), { stream, patientId: 'cl-p1', deviceId: 'band', epoch: 2, seq, bodies: [body] });
      assert.equal((await up.request('PUT', `/v1/batches/${s.id}${batchQuery(s.header, patient.address)}`, s.bytes)).status, 201);
      if (stream === 'hr') uploaded = Date.now();
    }
    assert.ok(await readUntil(/event: batch\ndata: .*"seq":10/, 1500), `no batch event within 1.5 s of the upload, with a 5 s poll: ${text.slice(0, 300)}`);
    assert.ok(Date.now() - uploaded < 1500, 'pushed when cataloged, not found at the next poll');
    await (await consent.revoke(doc.address)).wait();
    assert.ok(await readUntil(/event: revoked/, 15_000), 'the feed says access ended');
    assert.doesNotMatch(text, /"stream":"ecg"/, 'no ecg batch on the feed');
    await reader.cancel().catch(() => undefined);
  });

  it('a chain outage fails closed: 503, never an allow', async () => {
    const { token } = await signIn(doc);
    await node.stop();
    await sleep(5600); // past the access cache
    const r = await http('GET', `/v1/clinician/catalog/batches?patientAccount=${patient.address}&from=0&to=${MAX_DATA_TS}`, { token });
    assert.deepEqual([r.status, r.json.error], [503, 'chain-unavailable']);
  });
});
