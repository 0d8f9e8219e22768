/**
 * Key envelopes against a real anvil chain and a real ingest on loopback. The gateway seals data
 * and follows the Consent and Registry contracts; each clinician can open exactly what the chain
 * granted, checked cryptographically with the clinician's own secret key against every object in
 * cloud storage:
 *   - a grant of one stream gives envelopes for that stream only, and the batches open with them;
 *   - a grant over a past window is back-filled over exactly the epochs whose data it overlaps;
 *   - a revoke starts a new epoch at once: nothing sealed afterwards opens with the revoked key;
 *   - a care-team grant reaches its members; a member removed gets nothing sealed afterwards;
 *   - a grant made while the gateway was down is back-filled when it starts again.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Wallet, type JsonRpcProvider } from 'ethers';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { bytesToHex } from '@noble/hashes/utils.js';
import { ALL_STREAMS, ANVIL_DEV_KEYS, MAX_DATA_TS, connectContracts, createProvider, deployOrLoad, startAnvil, type AnvilNode, type Deployment } from '@vitalgate/contracts';
import { ChainGatewayDirectory, LocalObjectStore, MemoryReplayCache, buildIngest } from '@vitalgate/ingest';
import {
  EnvelopeOpener, STREAMS, envelopePublicKey, type ReadingBody, openBatch, openEnvelope, parseBatch, randomEnvelopeSecretKey, type StreamName,
} from '@vitalgate/protocol';
import { Gateway, type GatewayOptions } from '../../src/index.js';
import { TEST_SCRYPT, tempDir } from '../helpers.js';

const PASS = 'envelope test passphrase';
const quiet = pino({ level: process.env.VG_TEST_LOG ?? 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 11, 1);
const bit = (s: StreamName) => 1 << STREAMS[s].id;

async function until<T>(f: () => T | false | Promise<T | false>, what: string, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(100);
  }
}

interface Clinician { wallet: Wallet; secret: Uint8Array }

describe('key envelopes: clinicians open exactly what the chain grants', function () {
  this.timeout(120_000);
  let node: AnvilNode;
  let provider: JsonRpcProvider;
  let deployment: Deployment;
  let t: { dir: string; cleanup: () => Promise<void> };
  let ingest: FastifyInstance;
  let objects: LocalObjectStore;
  let gw: Gateway;
  let opts: GatewayOptions;
  let admin: Wallet;
  const seqs = new Map<string, number>();

  before(async () => {
    t = await tempDir('vg-envelopes-');
    node = await startAnvil({ statePath: join(t.dir, 'anvil-state.json') });
    provider = createProvider(node.url, node.chainId);
    const deployer = new Wallet(ANVIL_DEV_KEYS[0]!, provider);
    deployment = (await deployOrLoad(deployer, join(t.dir, 'deployment.json'))).deployment;
    // The gateway sends from the deployer's account (its development admin key); the test's own
    // admin transactions go from another account, so the two never race for one nonce.
    admin = new Wallet(ANVIL_DEV_KEYS[1]!, provider);
    const r = connectContracts(deployment, deployer).registry;
    await (await r.grantRole(await r.DEFAULT_ADMIN_ROLE(), admin.address)).wait();
    objects = new LocalObjectStore(join(t.dir, 'cloud'));
    ingest = await buildIngest({ store: objects, directory: new ChainGatewayDirectory(deployment, provider, 0), replay: new MemoryReplayCache(), logger: quiet });
    const url = await ingest.listen({ port: 0, host: '127.0.0.1' });
    opts = {
      dataDir: join(t.dir, 'gw'), passphrase: PASS, scrypt: TEST_SCRYPT, logger: quiet, batchWindowMs: 50,
      chain: { url: node.url, deploymentFile: join(t.dir, 'deployment.json'), adminKey: ANVIL_DEV_KEYS[0]!, anchorPeriodMs: 600_000, accessPollMs: 200 },
      ingest: { url },
    };
    gw = await Gateway.start(opts);
  });
  after(async () => {
    await gw?.stop();
    await ingest?.close();
    provider?.destroy();
    await node?.stop();
    await t?.cleanup();
  });

  const reg = () => connectContracts(deployment, admin).registry;
  let nextKey = 5;
  async function clinician(): Promise<Clinician> {
    // Funded dev accounts while they last (break-glass sends a transaction); then fresh ones, which only sign in.
    const wallet = new Wallet(nextKey < ANVIL_DEV_KEYS.length ? ANVIL_DEV_KEYS[nextKey++]! : Wallet.createRandom().privateKey, provider);
    const secret = randomEnvelopeSecretKey();
    await (await reg().registerClinician(wallet.address, envelopePublicKey(secret))).wait();
    return { wallet, secret };
  }
  const patientWallet = () => gw.chainLink!.patientWallet('env-p1');
  const consent = async () => connectContracts(deployment, await patientWallet()).consent;

  /** Readings of `stream` at data times from `ts`, sealed under the current epoch; resolves once stored and uploaded. */
  async function seal(streams: StreamName[], ts: number, n = 5): Promise<number> {
    for (const stream of streams) {
      for (let i = 0; i < n; i++) {
        const seq = seqs.get(stream) ?? 0;
        seqs.set(stream, seq + 1);
        const body: ReadingBody = stream === 'ecg' ? { seq, ts: ts + i * 1000, rate: 250, samples: [1, 2, 3, i] } : { seq, ts: ts + i * 1000, values: stream === 'hr' ? { hr: 60 + i } : stream === 'temp' ? { temp: 37 } : { spo2: 95 } };
        gw.acceptReading('env-p1', 'strap', stream, body);
      }
    }
    await gw.flush(true);
    await until(() => gw.metrics().upload!.waiting === 0, 'batches uploaded');
    return gw.metrics().epoch;
  }

  /** What `c` can open with its own key from everything in cloud storage: (stream, epoch) → readings. */
  async function openable(c: Clinician): Promise<Map<string, number>> {
    const keys = new Map<string, Uint8Array>();
    const mine = await objects.list(`envelopes/${c.wallet.address}/`, undefined, 100_000);
    const opener = new EnvelopeOpener(c.secret);
    for (const k of mine) {
      const [, , , stream, epoch] = k.split('/') as [string, string, string, StreamName, string];
      const env = (await objects.get(k))!;
      const ctx = { patientId: 'env-p1', stream, epoch: Number(epoch) };
      const r = openEnvelope(c.secret, env, ctx);
      assert.ok(r.ok, `${k}: ${r.ok ? '' : r.reason}`);
      const shared = opener.open(env, ctx);
      assert.ok(shared.ok && bytesToHex(shared.value) === bytesToHex(r.value), 'the caching opener agrees');
      keys.set(`${stream}/${Number(epoch)}`, r.value);
    }
    // One gateway seals a day of envelopes to one clinician under one ephemeral key.
    if (mine.length) assert.equal(opener.ecdhCount, 1, `${mine.length} envelopes to ${c.wallet.address} opened with one ECDH`);
    const out = new Map<string, number>();
    for (const k of await objects.list('batches/', undefined, 100_000)) {
      const p = parseBatch((await objects.get(k))!);
      assert.ok(p.ok);
      const h = p.value.header;
      // Every key the clinician holds is tried on every batch: a key must open only its own epoch and stream.
      for (const key of keys.values()) {
        const o = openBatch(key, p.value);
        if (o.ok) out.set(`${h.stream}/${h.epoch}`, (out.get(`${h.stream}/${h.epoch}`) ?? 0) + o.value.length);
      }
    }
    return out;
  }
  const envelopeCount = async (c: Clinician) => (await objects.list(`envelopes/${c.wallet.address}/`, undefined, 100_000)).length;
  const waitIssued = async (n: number) => until(async () => gw.metrics().envelopes!.issued >= n && gw.metrics().upload!.recordsWaiting === 0 && gw.metrics().envelopes!.due === 0, `${n} envelopes issued and uploaded`);

  let a: Clinician;
  let eBeforeRevoke: number;

  it('a grant of hr gives an envelope for hr only, and exactly the hr readings open with it', async () => {
    const e0 = await seal(['hr', 'ecg'], T0);
    a = await clinician();
    const c = await consent();
    await (await c.grant(a.wallet.address, bit('hr'), 0, MAX_DATA_TS, Math.floor(Date.now() / 1000) + 3600, 'ward round')).wait();
    await waitIssued(1);
    assert.deepEqual(await openable(a), new Map([[`hr/${e0}`, 5]]));
    eBeforeRevoke = e0;
  });

  it('a grant over a past data window is back-filled over exactly the epochs whose data it overlaps', async () => {
    // Three epochs of data, each at its own data time.
    const e1 = (await gw.rotateEpoch()).epoch;
    await seal(['hr', 'spo2'], T0 + 10 * HOUR);
    const e2 = (await gw.rotateEpoch()).epoch;
    await seal(['hr', 'spo2'], T0 + 20 * HOUR);
    const b = await clinician();
    const issued = gw.metrics().envelopes!.issued;
    const c = await consent();
    await (await c.grant(b.wallet.address, bit('hr') | bit('spo2'), T0 + 9 * HOUR, T0 + 11 * HOUR, Math.floor(Date.now() / 1000) + 3600, 'second opinion')).wait();
    await waitIssued(issued + 2);
    await sleep(500);
    assert.deepEqual(await openable(b), new Map([[`hr/${e1}`, 5], [`spo2/${e1}`, 5]]), 'only the epoch whose data overlaps the window');
    assert.ok(!(await openable(b)).has(`hr/${e2}`));
    assert.equal(await envelopeCount(b), 2);
  });

  it('a revoke starts a new epoch at once; nothing sealed afterwards opens with the revoked key', async () => {
    const before = gw.metrics().epoch;
    const c = await consent();
    await (await c.revoke(a.wallet.address)).wait();
    const after = await until(() => gw.metrics().epoch > before && gw.metrics().epoch, 'a new epoch after the revoke', 5000);
    await seal(['hr'], T0 + 30 * HOUR);
    await sleep(800);
    const can = await openable(a);
    assert.deepEqual([...can.keys()].map((k) => Number(k.split('/')[1])).filter((e) => e >= after), [], 'no batch sealed after the revoke opens');
    assert.equal(can.get(`hr/${eBeforeRevoke}`), 5, 'what was granted before stays readable (it was already given)');
  });

  it('a care-team grant reaches its members; a member removed gets nothing sealed afterwards', async () => {
    const m = await clinician();
    const r = reg();
    await (await r.createCareTeam('cardiology')).wait();
    const team = await r.careTeamAddress(await r.careTeamCount());
    await (await r.addCareTeamMember(team, m.wallet.address)).wait();
    const issued = gw.metrics().envelopes!.issued;
    const c = await consent();
    await (await c.grant(team, bit('ecg'), 0, MAX_DATA_TS, Math.floor(Date.now() / 1000) + 3600, 'cardiology review')).wait();
    await waitIssued(issued + 1);
    const e = await seal(['ecg'], T0 + 40 * HOUR);
    await waitIssued(issued + 2);
    const can = await openable(m);
    assert.equal(can.get(`ecg/${e}`), 5, 'the member opens the team\'s ecg');
    assert.ok([...can.keys()].every((k) => k.startsWith('ecg/')), 'and only ecg');

    const before = gw.metrics().epoch;
    await (await r.removeCareTeamMember(team, m.wallet.address)).wait();
    const after = await until(() => gw.metrics().epoch > before && gw.metrics().epoch, 'a new epoch after the member left', 5000);
    await seal(['ecg'], T0 + 41 * HOUR);
    await sleep(800);
    assert.deepEqual([...(await openable(m)).keys()].filter((k) => Number(k.split('/')[1]) >= after), []);
  });

  it('a grant made while the gateway is down is back-filled when it starts again; envelopes are never issued twice', async () => {
    const d = await clinician();
    const count = gw.metrics().envelopes!.issued;
    const epochBefore = gw.metrics().epoch;
    await gw.stop();
    const c = await consent();
    await (await c.grant(d.wallet.address, ALL_STREAMS, T0 + 19 * HOUR, T0 + 21 * HOUR, Math.floor(Date.now() / 1000) + 3600, 'night cover')).wait();
    gw = await Gateway.start(opts);
    await until(async () => (await envelopeCount(d)) >= 2 && gw.metrics().upload!.recordsWaiting === 0, 'back-filled after the restart');
    await sleep(500);
    const can = await openable(d);
    assert.deepEqual([...can.keys()].sort(), [...can.keys()].filter((k) => /^(hr|spo2)\//.test(k)).sort());
    assert.equal([...can.values()].reduce((x, y) => x + y, 0), 10, 'the hr and spo2 readings of the 20 h epoch, nothing else');
    // The restarted gateway re-read envelopes.jsonl: the envelopes issued before were not made again.
    assert.equal(gw.metrics().envelopes!.issued, 2);
    assert.ok(count >= 5);
    // Revokes read again from history while catching up do not rotate: the start's new epoch is the only one.
    assert.equal(gw.metrics().epoch, epochBefore + 1);
  });

  it('break-glass: envelopes for data of the session only; ended, a new epoch at once', async () => {
    const x = await clinician();
    const issued = gw.metrics().envelopes!.issued;
    const glass = connectContracts(deployment, x.wallet).consent;
    await (await glass.breakGlass((await patientWallet()).address, 0, 'found unresponsive on the ward', 60)).wait();
    const e = await seal(['hr'], Date.now());
    await waitIssued(issued + 1);
    const can = await openable(x);
    assert.deepEqual([...can.keys()], [`hr/${e}`], 'only the data sealed during the session, not the older epochs');
    const before = gw.metrics().epoch;
    await (await (await consent()).endBreakGlass((await patientWallet()).address, x.wallet.address)).wait();
    const after = await until(() => gw.metrics().epoch > before && gw.metrics().epoch, 'a new epoch once break-glass ended', 5000);
    await seal(['hr'], Date.now());
    await sleep(800);
    assert.deepEqual([...(await openable(x)).keys()].filter((k) => Number(k.split('/')[1]) >= after), []);
  });

  it('an expired grant gets no envelope for data sealed after it expired', async () => {
    const y = await clinician();
    const issued = gw.metrics().envelopes!.issued;
    const c = await consent();
    const expiry = Math.floor(Date.now() / 1000) + 4;
    await (await c.grant(y.wallet.address, bit('temp'), 0, MAX_DATA_TS, expiry, 'short consult')).wait();
    const e = await seal(['temp'], T0 + 50 * HOUR);
    await waitIssued(issued + 1);
    assert.deepEqual([...(await openable(y)).keys()], [`temp/${e}`]);
    // Past the expiry on chain: the contracts see block time, so let a block be mined after it.
    await sleep(Math.max(0, expiry * 1000 - Date.now()) + 1200);
    await (await admin.sendTransaction({ to: admin.address, value: 0 })).wait();
    const later = (await gw.rotateEpoch()).epoch;
    await seal(['temp'], T0 + 51 * HOUR);
    await sleep(1500);
    assert.equal(gw.metrics().envelopes!.due, 0, 'nothing left waiting: decided, not issued');
    assert.deepEqual([...(await openable(y)).keys()].filter((k) => Number(k.split('/')[1]) >= later), [], 'no key to data sealed after the expiry');
  });

  it('a chain outage issues nothing (fail closed) and keeps sealing; once the chain is back the due envelopes are issued', async () => {
    const z = await clinician();
    const c = await consent();
    await (await c.grant(z.wallet.address, bit('resp'), 0, MAX_DATA_TS, Math.floor(Date.now() / 1000) + 3600, 'respiratory review')).wait();
    await until(async () => (await envelopeCount(z)) === 0 && gw.metrics().envelopes!.due === 0, 'the grant read');
    await sleep(600);
    const port = node.port;
    await node.stop();
    const e = (await gw.rotateEpoch()).epoch;
    const sealedBefore = gw.metrics().batchesSealed;
    // Sealing does not need the chain; envelopes do.
    for (let i = 0; i < 5; i++) gw.acceptReading('env-p1', 'strap', 'resp', { seq: 10_000 + i, ts: T0 + 60 * HOUR + i * 1000, values: { resp: 14 } });
    await gw.flush(true);
    assert.ok(gw.metrics().batchesSealed > sealedBefore, 'the batch was sealed during the outage');
    await sleep(1500);
    assert.equal(await envelopeCount(z), 0, 'no envelope while the chain cannot say yes');
    assert.ok(gw.metrics().envelopes!.due > 0 || gw.metrics().envelopes!.lastError, 'the envelope is due, waiting for the chain');
    node = await startAnvil({ port, statePath: join(t.dir, 'anvil-state.json') });
    await until(async () => (await envelopeCount(z)) >= 1 && gw.metrics().upload!.recordsWaiting === 0, 'issued once the chain answered', 30_000);
    await sleep(500);
    assert.equal((await openable(z)).get(`resp/${e}`), 5, 'the readings sealed during the outage open with it');
  });
});
