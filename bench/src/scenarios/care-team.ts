/**
 * The care-team side, measured in this process against a real anvil and a real ingest on loopback:
 *
 * A. Key envelopes: µs to seal one envelope (one epoch, one grantee) and to open it; what a day of
 *    envelopes costs a gateway, computed from the measured seal time.
 * B. API latency of what a dashboard does most: a catalog query (50 entries) and then one batch
 *    fetch, as a signed-in clinician, sequentially. Cold: the chain is asked on every request (the
 *    access cache is off). Cached: the 5 s cache of the production service.
 * C. Revocation to refusal: with the cache warm, Consent.revoke is mined, and the batch fetch is
 *    retried every 20 ms until it is refused (403): the ms from the receipt to the first refusal.
 *    The bound is 2 s.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Wallet, type JsonRpcProvider } from 'ethers';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import {
  AccessFollower, ANVIL_DEV_KEYS, MAX_DATA_TS, connectContracts, createProvider, deployOrLoad, patientRef, startAnvil, type AnvilNode,
} from '@vitalgate/contracts';
import {
  ApiError, ChainClinicianAccess, ChainGatewayDirectory, ClinicianClient, DEFAULT_ACCESS_CACHE_MS, EmbeddedCatalog, IngestClient, LocalObjectStore,
  MemoryReplayCache, SessionKeys, StoredAccessLog, batchQuery, buildIngest,
} from '@vitalgate/ingest';
import {
  DEFAULT_EPOCH_PERIOD_MS, ENVELOPE_BYTES, EnvelopeOpener, EnvelopeSealer, STREAMS, envelopePublicKey, openEnvelope, randomEnvelopeSecretKey, sealBatch, sealEnvelope,
} from '@vitalgate/protocol';
import type { Log } from '../harness/child.js';
import { nearestRank } from '../harness/ledger.js';

export interface LatencyFigures { requests: number; p50Ms: number; p99Ms: number; meanMs: number; perSecond: number }

export interface EnvelopeDay { grantees: number; streams: number; epochs: number; envelopes: number; cpuMs: number; bytes: number }

export interface CareTeamResult {
  envelopes: {
    runs: number; sealMicros: number; openMicros: number; sealsPerSecond: number; opensPerSecond: number; bytes: number;
    /** The same, with one ephemeral key shared by the run (EnvelopeSealer / EnvelopeOpener), as the gateway seals a day to one clinician. */
    shared: { sealMicros: number; openMicros: number; ecdhs: number; openSpeedup: number };
    /** Computed from sealMicros, not measured: 10 grantees × every stream × a day of epochs. */
    day: { atDefaultPeriod: EnvelopeDay; hourly: EnvelopeDay };
  };
  api: { batches: number; entriesPerQuery: number; cold: LatencyFigures; cached: LatencyFigures; coldOverCached: number };
  revocation: { pollMs: number; runs: number[]; medianMs: number; maxMs: number };
  targets: { revocationUnder2s: boolean };
}

// secp256k1 in JS costs milliseconds per envelope, so 1000 runs already give a steady mean and keep
// the section well under a minute; the warm-up lets the JIT settle first.
const ENVELOPE_RUNS = 1000;
const ENVELOPE_WARMUP = 100;
const BATCHES = 200;
const PAGE = 50;
const API_REQUESTS = 300;
const API_WARMUP = 20;
const REVOCATIONS = 5;
// What startCareTeamService polls the chain at: the revocation figure is the production one only with it.
const ACCESS_POLL_MS = 500;
const T0 = Date.UTC(2026, 11, 1);
const BATCH_SPAN_MS = 10_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

function figures(ms: number[]): LatencyFigures {
  const s = [...ms].sort((a, b) => a - b);
  const total = ms.reduce((a, b) => a + b, 0);
  return { requests: ms.length, p50Ms: round(nearestRank(s, 50)), p99Ms: round(nearestRank(s, 99)), meanMs: round(total / ms.length), perSecond: round(ms.length / (total / 1000), 1) };
}

function measureEnvelopes(): CareTeamResult['envelopes'] {
  const secret = randomEnvelopeSecretKey();
  const recipient = envelopePublicKey(secret);
  const dk = new Uint8Array(32).fill(5);
  const ctx = { patientId: 'bench-p', stream: 'hr' as const, epoch: 7 };
  for (let i = 0; i < ENVELOPE_WARMUP; i++) openEnvelope(secret, sealEnvelope(recipient, dk, ctx), ctx);
  const sealed: Uint8Array[] = [];
  let t = process.hrtime.bigint();
  for (let i = 0; i < ENVELOPE_RUNS; i++) sealed.push(sealEnvelope(recipient, dk, ctx));
  const sealNs = Number(process.hrtime.bigint() - t);
  t = process.hrtime.bigint();
  for (const e of sealed) if (!openEnvelope(secret, e, ctx).ok) throw new Error('an envelope did not open');
  const openNs = Number(process.hrtime.bigint() - t);
  const sealMicros = sealNs / ENVELOPE_RUNS / 1000;
  const openMicros = openNs / ENVELOPE_RUNS / 1000;
  // Side by side in the same run: one E for every envelope, each its own epoch (its own AAD).
  const sealer = new EnvelopeSealer();
  const opener = new EnvelopeOpener(secret);
  const ctxOf = (i: number) => ({ ...ctx, epoch: i });
  t = process.hrtime.bigint();
  const shared = Array.from({ length: ENVELOPE_RUNS }, (_, i) => sealer.seal(recipient, dk, ctxOf(i)));
  const sharedSealNs = Number(process.hrtime.bigint() - t);
  t = process.hrtime.bigint();
  shared.forEach((e, i) => { if (!opener.open(e, ctxOf(i)).ok) throw new Error('a shared-E envelope did not open'); });
  const sharedOpenNs = Number(process.hrtime.bigint() - t);
  const streams = Object.keys(STREAMS).length;
  const day = (epochs: number): EnvelopeDay => {
    const envelopes = 10 * streams * epochs;
    return { grantees: 10, streams, epochs, envelopes, cpuMs: round((envelopes * sealMicros) / 1000, 1), bytes: envelopes * ENVELOPE_BYTES };
  };
  return {
    runs: ENVELOPE_RUNS, sealMicros: round(sealMicros, 1), openMicros: round(openMicros, 1),
    sealsPerSecond: Math.round(1e6 / sealMicros), opensPerSecond: Math.round(1e6 / openMicros), bytes: ENVELOPE_BYTES,
    shared: { sealMicros: round(sharedSealNs / ENVELOPE_RUNS / 1000, 1), openMicros: round(sharedOpenNs / ENVELOPE_RUNS / 1000, 1), ecdhs: opener.ecdhCount, openSpeedup: round(openNs / sharedOpenNs, 1) },
    day: { atDefaultPeriod: day(Math.round(86_400_000 / DEFAULT_EPOCH_PERIOD_MS)), hourly: day(24) },
  };
}

export async function runCareTeam(o: { dir: string; log: Log; onCleanup: (f: () => Promise<void>) => void }): Promise<CareTeamResult> {
  o.log(`care teams A: key envelopes, sealed and opened ${ENVELOPE_RUNS} times each after ${ENVELOPE_WARMUP} warm-up rounds`);
  const envelopes = measureEnvelopes();

  await mkdir(o.dir, { recursive: true });
  let node: AnvilNode | undefined;
  let provider: JsonRpcProvider | undefined;
  let catalog: EmbeddedCatalog | undefined;
  const apps: FastifyInstance[] = [];
  const followers: AccessFollower[] = [];
  let cleaned = false;
  // Every step runs even if one before it fails, so a failed close never leaves anvil behind; the
  // directory is under the bench's temporary root, which main removes (or keeps, with --keep).
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    const steps: Array<() => unknown> = [
      ...apps.splice(0).map((a) => () => a.close()),
      ...followers.splice(0).map((f) => () => f.stop()),
      () => catalog?.close(),
      () => provider?.destroy(),
      () => node?.stop(),
    ];
    for (const step of steps) await Promise.resolve().then(step).catch((e: Error) => o.log(`care teams: cleanup: ${e.message}`));
  };
  o.onCleanup(cleanup);
  try {
    o.log('care teams: anvil, contracts, a gateway, a patient granting hr to a clinician, two ingests (cache off, cache on)');
    node = await startAnvil();
    const chainId = node.chainId;
    provider = createProvider(node.url, chainId);
    const admin = new Wallet(ANVIL_DEV_KEYS[0]!, provider);
    const deployment = (await deployOrLoad(admin, join(o.dir, 'deployment.json'))).deployment;
    const [gw, patient, doc] = [1, 2, 3].map((i) => new Wallet(ANVIL_DEV_KEYS[i]!, provider)) as [Wallet, Wallet, Wallet];
    const reg = connectContracts(deployment, admin).registry;
    await (await reg.registerGateway(gw.address)).wait();
    await (await reg.registerPatient(patient.address, patientRef('bench-care-p'), gw.address)).wait();
    await (await reg.registerClinician(doc.address, envelopePublicKey(randomEnvelopeSecretKey()))).wait();
    const consent = connectContracts(deployment, patient).consent;
    const grant = async () => (await consent.grant(doc.address, 1 << STREAMS.hr.id, 0, MAX_DATA_TS, Math.floor(Date.now() / 1000) + 3600, 'bench')).wait();
    await grant();

    const store = new LocalObjectStore(join(o.dir, 'objects'));
    catalog = await EmbeddedCatalog.open(join(o.dir, 'catalog'));
    const replay = new MemoryReplayCache();
    const sessions = new SessionKeys(new Uint8Array(32).fill(1), replay);
    const serve = async (ttlMs: number) => {
      const siwe = { domain: '', origin: 'http://127.0.0.1', chainId };
      const follower = new AccessFollower(connectContracts(deployment, provider!), deployment);
      followers.push(follower);
      follower.start(ACCESS_POLL_MS);
      const app = await buildIngest({
        store, catalog: catalog!, directory: new ChainGatewayDirectory(deployment, provider!, 0), replay, logger: pino({ level: 'silent' }),
        clinicians: {
          sessions, siwe,
          access: new ChainClinicianAccess(follower, connectContracts(deployment, provider!).registry, ttlMs), accessLog: new StoredAccessLog(store),
        },
      });
      apps.push(app);
      const url = await app.listen({ port: 0, host: '127.0.0.1' });
      // The sign-in domain is where it listens, known only now (ingest reads it per request).
      siwe.origin = new URL(url).origin;
      siwe.domain = new URL(url).host;
      for (const end = Date.now() + 30_000; !follower.ready; await sleep(50)) {
        if (Date.now() > end) throw new Error('the access follower did not catch up with the chain in 30 s');
      }
      return url;
    };
    const coldUrl = await serve(0);
    const cachedUrl = await serve(DEFAULT_ACCESS_CACHE_MS);

    o.log(`care teams B: ${BATCHES} hr batches uploaded; ${API_REQUESTS} × (catalog query of ${PAGE} + batch fetch), cold then cached, after ${API_WARMUP} warm-up rounds each`);
    const up = new IngestClient(coldUrl, gw);
    const ids: string[] = [];
    const uploadOne = async (seq: number) => {
      const s = sealBatch(new Uint8Array(32).fill(2), {
        stream: 'hr', patientId: 'bench-care-p', deviceId: 'band', epoch: 1, seq,
        bodies: Array.from({ length: 10 }, (_, i) => ({ seq: seq * 10 + i, ts: T0 + seq * BATCH_SPAN_MS + i * 1000, values: { hr: 60 + i } })),
      });
      const r = await up.request('PUT', `/v1/batches/${s.id}${batchQuery(s.header, patient.address)}`, s.bytes);
      if (r.status !== 201) throw new Error(`upload refused: ${r.status} ${JSON.stringify(r.json)}`);
      ids[seq] = s.id;
    };
    // The uploads are set-up, not measured: eight at a time only shortens the section.
    for (let seq = 0; seq < BATCHES; seq += 8) await Promise.all(Array.from({ length: Math.min(8, BATCHES - seq) }, (_, k) => uploadOne(seq + k)));
    const measure = async (url: string): Promise<LatencyFigures> => {
      const c = new ClinicianClient(url, doc);
      await c.signIn({ chainId });
      const ms: number[] = [];
      for (let i = 0; i < API_WARMUP + API_REQUESTS; i++) {
        // Windows that move over the stored range, so neither the catalog nor the disk serves one answer over and over.
        const from = T0 + ((i * 37) % (BATCHES - PAGE + 1)) * BATCH_SPAN_MS;
        const t = performance.now();
        // [from, from + PAGE spans) holds exactly PAGE entries: one page, one request.
        const entries = [];
        for await (const e of c.catalog(patient.address, from, from + PAGE * BATCH_SPAN_MS, 'hr')) entries.push(e);
        if (entries.length !== PAGE) throw new Error(`the catalog query returned ${entries.length} entries, not ${PAGE}`);
        await c.batch(patient.address, entries[i % PAGE]!.id);
        if (i >= API_WARMUP) ms.push(performance.now() - t);
      }
      return figures(ms);
    };
    const cold = await measure(coldUrl);
    const cached = await measure(cachedUrl);

    o.log(`care teams C: revocation to refusal, ${REVOCATIONS} times (the access follower polls every ${ACCESS_POLL_MS} ms)`);
    const c = new ClinicianClient(cachedUrl, doc);
    await c.signIn({ chainId });
    const runs: number[] = [];
    for (let i = 0; i < REVOCATIONS; i++) {
      // Allowed (and so cached) right before the revoke: otherwise the refusal could come from a cache miss.
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
        if (performance.now() - mined > 10_000) throw new Error('still allowed 10 s after the revoke was mined');
        await sleep(20);
      }
      runs.push(Math.round(performance.now() - mined));
      await grant();
      // The next run must start from an allowed clinician, so wait until the grant has been read.
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
    const revocation = { pollMs: ACCESS_POLL_MS, runs, medianMs: sorted[Math.floor(sorted.length / 2)]!, maxMs: sorted.at(-1)! };
    return {
      envelopes,
      api: { batches: BATCHES, entriesPerQuery: PAGE, cold, cached, coldOverCached: round(cold.p50Ms / cached.p50Ms) },
      revocation,
      targets: { revocationUnder2s: revocation.maxMs <= 2000 },
    };
  } finally {
    await cleanup();
  }
}
