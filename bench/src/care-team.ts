/**
 * The care-team side, measured in this process against a real anvil and a real ingest on loopback:
 *
 * A. Key envelopes: µs to seal one envelope (one epoch, one grantee) and to open it; what a day of
 *    envelopes costs a gateway, computed from that figure.
 * B. API latency of what a dashboard does most: a catalog query (50 entries) and then one batch
 *    fetch, as a signed-in clinician, sequentially. Cold: the chain is asked on every request (the
 *    access cache is off). Cached: the 5 s cache of the production service.
 * C. Revocation to refusal: with the cache warm, Consent.revoke is mined, and the batch fetch is
 *    retried every 20 ms until it is refused (403): the ms from the receipt to the first refusal.
 *    The bound is 2 s.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import {
  AccessFollower, ANVIL_DEV_KEYS, MAX_DATA_TS, connectContracts, createProvider, deployOrLoad, patientRef, startAnvil,
} from '@vitalgate/contracts';
import {
  ApiError, ChainClinicianAccess, ChainGatewayDirectory, ClinicianClient, DEFAULT_ACCESS_CACHE_MS, EmbeddedCatalog, IngestClient, LocalObjectStore,
  MemoryReplayCache, SessionKeys, StoredAccessLog, batchQuery, buildIngest,
} from '@vitalgate/ingest';
import { ENVELOPE_BYTES, STREAMS, envelopePublicKey, openEnvelope, randomEnvelopeSecretKey, sealBatch, sealEnvelope } from '@vitalgate/protocol';
import type { Log } from './procs.js';

export interface LatencyFigures { requests: number; p50Ms: number; p99Ms: number; meanMs: number; perSecond: number }

export interface CareTeamResult {
  envelopes: {
    runs: number; sealMicros: number; openMicros: number; sealsPerSecond: number; bytes: number;
    /** Computed from sealMicros: 10 grantees × 9 streams × 96 epochs a day (15-minute epochs). */
    dayFor10Grantees: { envelopes: number; cpuMs: number; bytes: number };
  };
  api: { batches: number; cold: LatencyFigures; cached: LatencyFigures; coldOverCached: number };
  revocation: { runs: number[]; medianMs: number; maxMs: number };
  targets: { revocationUnder2s: boolean };
}

const BATCHES = 200;
const API_REQUESTS = 300;
const REVOCATIONS = 5;
const T0 = Date.UTC(2026, 11, 1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function figures(ms: number[]): LatencyFigures {
  const s = [...ms].sort((a, b) => a - b);
  const total = ms.reduce((a, b) => a + b, 0);
  return { requests: ms.length, p50Ms: round(pct(s, 50)), p99Ms: round(pct(s, 99)), meanMs: round(total / ms.length), perSecond: round(ms.length / (total / 1000), 1) };
}

function measureEnvelopes(): CareTeamResult['envelopes'] {
  const secret = randomEnvelopeSecretKey();
  const recipient = envelopePublicKey(secret);
  const dk = new Uint8Array(32).fill(5);
  const ctx = { patientId: 'bench-p', stream: 'hr' as const, epoch: 7 };
  const runs = 2000;
  for (let i = 0; i < 200; i++) openEnvelope(secret, sealEnvelope(recipient, dk, ctx), ctx);
  const sealed: Uint8Array[] = [];
  let t = process.hrtime.bigint();
  for (let i = 0; i < runs; i++) sealed.push(sealEnvelope(recipient, dk, ctx));
  const sealNs = Number(process.hrtime.bigint() - t);
  t = process.hrtime.bigint();
  for (const e of sealed) if (!openEnvelope(secret, e, ctx).ok) throw new Error('an envelope did not open');
  const openNs = Number(process.hrtime.bigint() - t);
  const sealMicros = sealNs / runs / 1000;
  const day = 10 * 9 * 96;
  return {
    runs, sealMicros: round(sealMicros, 1), openMicros: round(openNs / runs / 1000, 1), sealsPerSecond: Math.round(1e6 / sealMicros), bytes: ENVELOPE_BYTES,
    dayFor10Grantees: { envelopes: day, cpuMs: round((day * sealMicros) / 1000, 1), bytes: day * ENVELOPE_BYTES },
  };
}

export async function runCareTeam(o: { log: Log; onCleanup: (f: () => Promise<void>) => void }): Promise<CareTeamResult> {
  o.log('care teams A: key envelopes, sealed and opened 2000 times');
  const envelopes = measureEnvelopes();

  const dir = await mkdtemp(join(tmpdir(), 'vg-bench-care-'));
  const node = await startAnvil();
  const provider = createProvider(node.url, node.chainId);
  const apps: FastifyInstance[] = [];
  const followers: AccessFollower[] = [];
  let catalog: EmbeddedCatalog | undefined;
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    for (const a of apps.splice(0)) await a.close();
    for (const f of followers.splice(0)) await f.stop();
    await catalog?.close();
    catalog = undefined;
    provider.destroy();
    await node.stop();
    await rm(dir, { recursive: true, force: true });
  };
  o.onCleanup(cleanup);
  try {
    const admin = new Wallet(ANVIL_DEV_KEYS[0]!, provider);
    const deployment = (await deployOrLoad(admin, join(dir, 'deployment.json'))).deployment;
    const [gw, patient, doc] = [1, 2, 3].map((i) => new Wallet(ANVIL_DEV_KEYS[i]!, provider)) as [Wallet, Wallet, Wallet];
    const reg = connectContracts(deployment, admin).registry;
    await (await reg.registerGateway(gw.address)).wait();
    await (await reg.registerPatient(patient.address, patientRef('bench-care-p'), gw.address)).wait();
    await (await reg.registerClinician(doc.address, envelopePublicKey(randomEnvelopeSecretKey()))).wait();
    const consent = connectContracts(deployment, patient).consent;
    const grant = async () => (await consent.grant(doc.address, 1 << STREAMS.hr.id, 0, MAX_DATA_TS, Math.floor(Date.now() / 1000) + 3600, 'bench')).wait();
    await grant();

    const store = new LocalObjectStore(join(dir, 'objects'));
    catalog = await EmbeddedCatalog.open(join(dir, 'catalog'));
    const replay = new MemoryReplayCache();
    const sessions = new SessionKeys(new Uint8Array(32).fill(1), replay);
    const serve = async (ttlMs: number) => {
      const siwe = { domain: '', origin: 'http://127.0.0.1', chainId: node.chainId };
      const follower = new AccessFollower(connectContracts(deployment, provider), deployment);
      follower.start(200);
      followers.push(follower);
      const app = await buildIngest({
        store, catalog: catalog!, directory: new ChainGatewayDirectory(deployment, provider, 0), replay, logger: pino({ level: 'silent' }),
        clinicians: {
          sessions, siwe,
          access: new ChainClinicianAccess(follower, connectContracts(deployment, provider).registry, ttlMs), accessLog: new StoredAccessLog(store),
        },
      });
      apps.push(app);
      const url = await app.listen({ port: 0, host: '127.0.0.1' });
      // The sign-in domain is where it listens, known only now (ingest reads it per request).
      siwe.origin = new URL(url).origin;
      siwe.domain = new URL(url).host;
      for (;;) {
        if (follower.ready) break;
        await sleep(50);
      }
      return url;
    };
    const coldUrl = await serve(0);
    const cachedUrl = await serve(DEFAULT_ACCESS_CACHE_MS);

    o.log(`care teams B: ${BATCHES} hr batches uploaded; ${API_REQUESTS} × (catalog query + batch fetch), cold then cached`);
    const up = new IngestClient(coldUrl, gw);
    const ids: string[] = [];
    for (let seq = 0; seq < BATCHES; seq++) {
      const s = sealBatch(new Uint8Array(32).fill(2), { stream: 'hr', patientId: 'bench-care-p', deviceId: 'band', epoch: 1, seq, bodies: Array.from({ length: 10 }, (_, i) => ({ seq: seq * 10 + i, ts: T0 + seq * 10_000 + i * 1000, values: { hr: 60 + i } })) });
      const r = await up.request('PUT', `/v1/batches/${s.id}${batchQuery(s.header, patient.address)}`, s.bytes);
      if (r.status !== 201) throw new Error(`upload refused: ${r.status} ${JSON.stringify(r.json)}`);
      ids.push(s.id);
    }
    const measure = async (url: string): Promise<LatencyFigures> => {
      const c = new ClinicianClient(url, doc);
      await c.signIn({ chainId: node.chainId });
      const ms: number[] = [];
      for (let i = 0; i < API_REQUESTS + 20; i++) {
        const from = T0 + ((i * 37) % (BATCHES - 50)) * 10_000;
        const t = performance.now();
        const page = await c.catalog(patient.address, from, from + 50 * 10_000, 'hr').next();
        if (page.done) throw new Error('the catalog query returned nothing');
        await c.batch(patient.address, page.value.id);
        if (i >= 20) ms.push(performance.now() - t);
      }
      return figures(ms);
    };
    const cold = await measure(coldUrl);
    const cached = await measure(cachedUrl);

    o.log(`care teams C: revocation to refusal, ${REVOCATIONS} times`);
    const c = new ClinicianClient(cachedUrl, doc);
    await c.signIn({ chainId: node.chainId });
    const runs: number[] = [];
    for (let i = 0; i < REVOCATIONS; i++) {
      await c.batch(patient.address, ids[0]!);
      await (await consent.revoke(doc.address)).wait();
      const mined = performance.now();
      for (;;) {
        try {
          await c.batch(patient.address, ids[0]!);
        } catch (e) {
          if (e instanceof ApiError && e.status === 403) break;
          throw e;
        }
        if (performance.now() - mined > 10_000) throw new Error('still allowed 10 s after the revoke');
        await sleep(20);
      }
      runs.push(Math.round(performance.now() - mined));
      await grant();
      // Allowed again before the next run: the grant must have been read.
      for (const end = performance.now() + 10_000; ; await sleep(50)) {
        try {
          await c.batch(patient.address, ids[0]!);
          break;
        } catch (e) {
          if (performance.now() > end) throw e;
        }
      }
    }
    const sorted = [...runs].sort((a, b) => a - b);
    const revocation = { runs, medianMs: sorted[Math.floor(sorted.length / 2)]!, maxMs: sorted.at(-1)! };
    return {
      envelopes,
      api: { batches: BATCHES, cold, cached, coldOverCached: round(cold.p50Ms / cached.p50Ms) },
      revocation,
      targets: { revocationUnder2s: revocation.maxMs <= 2000 },
    };
  } finally {
    await cleanup();
  }
}
