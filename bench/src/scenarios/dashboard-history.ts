/**
 * The dashboard's history view, measured in Chromium (Debian's, through playwright-core) against
 * the whole pipeline (cli/src/pipeline.ts: embedded anvil chain, ingest serving the dashboard,
 * broker, gateway, the demo clinician granted every patient the gateway registers), run and seeded
 * in a process of its own (history-server.ts), as ingest runs apart from a clinician's browser:
 *
 * Seeding, straight into the gateway (no broker) with readings from simulated devices, in the batches
 * and epochs a live gateway would make of them:
 *   - patient A: one hour of 250 Hz ECG (frames of 50 samples, batches of 2 s = 500 samples),
 *     ending now, then kept live in real time (a device still on the patient);
 *   - patient B: seven days of HR and SpO2 at 1 Hz (≈1.2 M readings), ending now.
 *   Epochs turn every --history-epoch-minutes of the readings' time (the gateway's default period,
 *   15 min), so each epoch has its own key and key envelope, and summaries are sealed per epoch, as
 *   they are when the gateway runs for real: sealed minute by minute for the ECG; for the seven days,
 *   one flush per epoch (its minute and hour pieces), then the hour under way left to the gateway.
 *   Anchored at the pace of the readings' time too (each minute of ECG, each hour of the seven
 *   days), so the page asks the chain about as many roots as it would have live.
 * Then, each run in a fresh browser context: the demo sign-in link, the patients view, then the
 * patient's history route (#/patient/0x…/history/SPAN), from setting the route until the page says
 * the history is drawn (body[data-history-loaded]); with the bytes and requests of that navigation,
 * and the page's own figures (globalThis.vitalgateStats.history: batches, points, its own ms).
 * Targets: both views under 1.5 s.
 */
import { join } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { Wallet } from 'ethers';
import type { Gateway } from '@vitalgate/edge-gateway';
import { SimDevice, type Profile } from '@vitalgate/device-sim';
import { ClinicianClient } from '@vitalgate/ingest';
import { parseClinicianKey } from '@vitalgate/protocol';
import { findProgram } from '@vitalgate/test-support';
import { Child, REPO_ROOT, sleep, type Log } from '../harness/child.js';
import { nearestRank } from '../harness/ledger.js';

const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;
const DAY_MS = 24 * HOUR_MS;
export const HISTORY_TARGET_MS = 1500;

/** What this file uses of cli/src/pipeline.ts (loaded from the built CLI, as the other sections run it). */
interface PipelineLike {
  gateway: Gateway;
  ingest?: { url: string };
  demo?: { address: string; signInUrl: string };
  shutdown(): Promise<void>;
}
type StartPipeline = (o: {
  devices: number; durationS: number; dataDir: string; passphraseFile?: string; mqttPort?: number; anchorSeconds?: number;
  demoClinician?: boolean; maxBatchSamples?: number; epochMinutes?: number; logLevel?: string;
}) => Promise<PipelineLike>;

export interface HistoryRun {
  /** Setting the route → the page says the history is drawn, measured from here. */
  ms: number;
  /** The page's own figure: from the history's start (once the live view is up) to drawn. */
  historyMs: number;
  kind: string;
  batches: number;
  points: number;
  /** Every response of the navigation (API, chain JSON-RPC), body bytes as received. */
  bytes: number;
  requests: number;
  /** Of which: pages of GET /v1/clinician/bundle, and calls to the chain's JSON-RPC. */
  bundleRequests: number;
  chainRequests: number;
  /** The history's own bytes (the bundles), as the page counts them. */
  historyBytes: number;
  /** Distinct anchor roots asked of the chain (DataAnchor.isRecorded), live view included. */
  chainCalls: number;
}

export interface HistoryView {
  name: string; route: string; spanMs: number; targetMs: number;
  runs: HistoryRun[];
  p50Ms: number; maxMs: number; p50HistoryMs: number; met: boolean;
}

export interface HistoryResult {
  epochMinutes: number;
  seed: {
    seconds: number;
    ecg: { samples: number; batches: number; epochs: number };
    vitals: { readings: number; batches: number; epochs: number; days: number };
    summariesSealed: number; envelopesIssued: number; anchors: number;
  };
  ecg1h: HistoryView;
  vitals7d: HistoryView;
  targets: { ecg1hUnder1500ms: boolean; vitals7dUnder1500ms: boolean };
}

const ECG_FRAME = 50;
const ECG: Profile = { name: 'bench-ecg', description: 'ECG 250 Hz in frames of 50 samples', streams: [{ stream: 'ecg', kind: 'waveform', rateHz: 250, frameSamples: ECG_FRAME }] };
const VITALS: Profile = { name: 'bench-vitals', description: 'HR and SpO2 at 1 Hz', streams: [{ stream: 'hr', kind: 'scalar', periodMs: 1000 }, { stream: 'spo2', kind: 'scalar', periodMs: 1000 }] };

export interface SeededHistory {
  signInUrl: string;
  accounts: { ecg: string; vitals: string };
  seed: HistoryResult['seed'];
  stop(): Promise<void>;
}

/**
 * Starts the pipeline and seeds both patients (see the top of this file); returns once every
 * batch, summary, envelope and anchor has reached ingest and the demo clinician holds both grants,
 * with patient A's ECG live.
 */
export async function seedHistory(o: { dir: string; passphraseFile?: string; epochMinutes: number; log: Log }): Promise<SeededHistory> {
  const pipelineJs = join(REPO_ROOT, 'cli/dist/src/pipeline.js');
  if (!existsSync(join(REPO_ROOT, 'dashboard/dist/app/app.js'))) throw new Error('the dashboard is not built: npm run build -w dashboard');
  const { startPipeline } = (await import(pathToFileURL(pipelineJs).href)) as { startPipeline: StartPipeline };
  const epochMs = o.epochMinutes * MINUTE_MS;
  // One simulated device is required by the pipeline; it is never started (nothing goes through the broker).
  const p = await startPipeline({
    devices: 1, durationS: Infinity, dataDir: join(o.dir, 'data'), mqttPort: 0, anchorSeconds: 30, demoClinician: true, maxBatchSamples: 500, logLevel: 'error',
    ...(o.passphraseFile && { passphraseFile: o.passphraseFile }),
  });
  let stopped = false;
  let live: ReturnType<typeof setInterval> | undefined;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    clearInterval(live);
    await p.shutdown();
  };
  try {
    const gw = p.gateway;
    if (!p.demo || !p.ingest) throw new Error('the pipeline has no demo clinician');
    const started = Date.now();
    const m0 = gw.metrics();
    let lastProgress = 0;
    const progress = (what: string, done: number, total: number) => {
      if (Date.now() - lastProgress < 3000 && done < total) return;
      lastProgress = Date.now();
      const m = gw.metrics();
      o.log(`history: seeding ${what}: ${((100 * done) / total).toFixed(0)} % (${m.readingsAccepted - m0.readingsAccepted} readings, ${m.batchesSealed} batches and ${m.summariesSealed} summaries sealed, epoch ${m.epoch}, upload waiting ${m.upload?.waiting ?? '?'})`);
    };

    // The gateway anchors on its own timer (every 30 s, of wall time); seeding hours in seconds, the
    // bench also anchors at the pace of the readings' time, so a range has about as many roots (one
    // chain call each in the page) as it would have had live. Reached past the gateway's API: a harness.
    const anchorer = (gw as unknown as { anchorer?: { anchorNow(force?: boolean): Promise<void> } }).anchorer;
    /**
     * Readings of `dev` from `from` to `to` (device time) into the gateway; every `flushEvery` of
     * that time the gateway seals everything (flush(true): readings, then the minutes and hour
     * pieces they close), and every epochMs the epoch turns, as the gateway's timer would have turned
     * it while those readings were live; every `anchorEvery` what was sealed is anchored.
     */
    const seed = async (what: string, dev: SimDevice, from: number, to: () => number, flushEvery: number, anchorEvery: number) => {
      let t = from;
      let readings = 0;
      let nextEpoch = Math.floor(from / epochMs) * epochMs + epochMs;
      let nextAnchor = Math.floor(from / anchorEvery) * anchorEvery + anchorEvery;
      while (t < to()) {
        const next = Math.min(to(), Math.floor(t / flushEvery) * flushEvery + flushEvery);
        for (const r of dev.due(next)) {
          gw.acceptReading(dev.patientId, dev.deviceId, r.stream, r.body);
          readings++;
        }
        t = next;
        await gw.flush(true);
        if (t >= nextEpoch) {
          await gw.rotateEpoch();
          nextEpoch += epochMs;
        }
        if (t >= nextAnchor) {
          await anchorer?.anchorNow(true);
          nextAnchor += anchorEvery;
        }
        // Bounded: the upload spool, envelopes and anchoring keep up before more is sealed.
        for (let m = gw.metrics(); (m.upload?.waiting ?? 0) > 3000; m = gw.metrics()) await sleep(200);
        progress(what, t - from, to() - from);
      }
      return readings;
    };

    // B first: its hour under way must stay open (a flush(true) from A's seeding would seal it).
    const now0 = Date.now();
    const hourNow = Math.floor(now0 / HOUR_MS) * HOUR_MS;
    const vitalsFrom = now0 - 7 * DAY_MS;
    const vitalsDev = new SimDevice('bench-vitals-01', 'patient-vitals', VITALS, vitalsFrom, 7);
    const e0 = gw.metrics().epoch;
    let vitalsReadings = await seed('7 d of HR + SpO2 at 1 Hz', vitalsDev, vitalsFrom, () => hourNow, epochMs, HOUR_MS);
    const afterVitals = gw.metrics();
    const ecgDev = new SimDevice('bench-ecg-01', 'patient-ecg', ECG, Date.now() - HOUR_MS - 2 * MINUTE_MS, 13);
    const ecgReadings = await seed('1 h of 250 Hz ECG', ecgDev, ecgDev.startMs, () => Date.now(), MINUTE_MS, MINUTE_MS);
    const afterEcg = gw.metrics();
    // B's hour under way: to the gateway as it would come live (its timer seals; the hour stays open).
    for (const r of vitalsDev.due(Date.now())) {
      gw.acceptReading(vitalsDev.patientId, vitalsDev.deviceId, r.stream, r.body);
      vitalsReadings++;
    }
    // Granted, enveloped, anchored and uploaded before anything is measured.
    const cl = new ClinicianClient(p.ingest.url, new Wallet(demoAccountKey(join(o.dir, 'data'))));
    await cl.signIn();
    const accounts = {
      ecg: (await gw.chainLink!.patientWallet('patient-ecg')).address,
      vitals: (await gw.chainLink!.patientWallet('patient-vitals')).address,
    };
    for (const end = Date.now() + 600_000; ; await sleep(1000)) {
      const m = gw.metrics();
      const granted = (await cl.patients()).map((x) => x.patientAccount.toLowerCase());
      const ready = granted.includes(accounts.ecg.toLowerCase()) && granted.includes(accounts.vitals.toLowerCase())
        && m.pendingReadings === 0 && (m.summariesOpen?.minutes ?? 0) === 0 && (m.envelopes?.due ?? 0) === 0
        && (m.anchoring?.unanchoredBatches ?? 0) === 0 && (m.upload?.waiting ?? 0) === 0 && (m.upload?.recordsWaiting ?? 0) === 0;
      if (ready) break;
      if (Date.now() > end) throw new Error(`history: the seeded data did not reach ingest in 10 min: ${JSON.stringify({ pending: m.pendingReadings, summariesOpen: m.summariesOpen, envelopes: m.envelopes, anchoring: m.anchoring, upload: m.upload })}`);
      o.log(`history: waiting for grants, envelopes (${m.envelopes?.issued ?? 0} issued, ${m.envelopes?.due ?? 0} due), anchors (${m.anchoring?.unanchoredBatches ?? 0} batches left) and the upload (${m.upload?.waiting ?? 0} batches, ${m.upload?.recordsWaiting ?? 0} records waiting)`);
    }
    const mSeeded = gw.metrics();
    const seedResult: HistoryResult['seed'] = {
      seconds: Math.round((Date.now() - started) / 100) / 10,
      ecg: { samples: ecgReadings * ECG_FRAME, batches: afterEcg.batchesSealed - afterVitals.batchesSealed, epochs: afterEcg.epoch - afterVitals.epoch + 1 },
      vitals: { readings: vitalsReadings, batches: afterVitals.batchesSealed - m0.batchesSealed, epochs: afterVitals.epoch - e0 + 1, days: 7 },
      summariesSealed: mSeeded.summariesSealed, envelopesIssued: mSeeded.envelopes?.issued ?? 0, anchors: mSeeded.anchoring?.anchors ?? 0,
    };
    o.log(`history: seeded in ${seedResult.seconds} s: ECG ${seedResult.ecg.samples} samples in ${seedResult.ecg.batches} batches over ${seedResult.ecg.epochs} epochs; HR + SpO2 ${vitalsReadings} readings in ${seedResult.vitals.batches} batches over ${seedResult.vitals.epochs} epochs; ${seedResult.summariesSealed} summaries, ${seedResult.envelopesIssued} envelopes, ${seedResult.anchors} anchors`);

    // A's device stays on the patient: its readings keep coming, in real time, through the gateway's own batching.
    live = setInterval(() => {
      for (const r of ecgDev.due(Date.now())) gw.acceptReading(ecgDev.patientId, ecgDev.deviceId, r.stream, r.body);
    }, 200);
    // What the seeding leaves running (the catalog's compactions, the heap) settles before anything is timed.
    const settled = await settle(15, 60_000);
    o.log(`history: the server ${settled ? 'settled' : 'did not settle in 60 s'} (under 15 % of a core over 2 s)`);
    return { signInUrl: p.demo.signInUrl, accounts, seed: seedResult, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

export async function runDashboardHistory(o: {
  dir: string; passphraseFile: string; runs: number; epochMinutes: number; log: Log; onCleanup: (f: () => Promise<void>) => void;
}): Promise<HistoryResult | null> {
  const executablePath = findProgram('chromium');
  if (!executablePath) {
    if (process.env.CI === 'true') throw new Error('chromium not found (apt-get install chromium); CI must not skip the dashboard history benchmark');
    o.log('\x1b[33m!!! dashboard history: SKIPPED, chromium not found (apt-get install chromium)\x1b[0m');
    return null;
  }
  // The server side in a process of its own, as ingest is apart from a clinician's browser: the
  // driver of Chromium here (every request and response an event) does not share its thread.
  const server = new Child('history-server', HISTORY_SERVER, [o.dir, String(o.epochMinutes), o.passphraseFile], o.log);
  o.onCleanup(async () => { await server.stop(60_000); });
  let browser: Browser | undefined;
  try {
    const ready = await server.waitFor('ready', 20 * 60_000);
    const seeded = { signInUrl: ready.signInUrl as string, accounts: ready.accounts as SeededHistory['accounts'], seed: ready.seed as HistoryResult['seed'] };
    browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS });
    const views: Array<{ name: string; account: string; spanMs: number }> = [
      { name: '1 h of 250 Hz ECG', account: seeded.accounts.ecg, spanMs: HOUR_MS },
      { name: '7 d of HR and SpO2', account: seeded.accounts.vitals, spanMs: 7 * DAY_MS },
    ];
    const out: HistoryView[] = [];
    for (const v of views) {
      const route = historyRoute(v.account, v.spanMs);
      const runs: HistoryRun[] = [];
      for (let i = 0; i < o.runs; i++) {
        // VITALGATE_BENCH_HISTORY_TRACE=DIR: a Chromium trace of each view's last run, to see where the time goes.
        const trace = process.env.VITALGATE_BENCH_HISTORY_TRACE && i === o.runs - 1 ? join(process.env.VITALGATE_BENCH_HISTORY_TRACE, `history-${v.spanMs}.trace.json`) : undefined;
        const r = await measureHistory(browser, seeded.signInUrl, route, v.spanMs, trace);
        runs.push(r);
        o.log(`history: ${v.name}, run ${i + 1}/${o.runs}: ${r.ms} ms (history ${r.historyMs} ms), ${r.kind}, ${r.batches} batches, ${r.points} points, ${kib(r.bytes)} KiB over ${r.requests} responses (${r.bundleRequests} bundle pages, ${r.chainRequests} chain requests)`);
      }
      const ms = runs.map((r) => r.ms);
      out.push({
        name: v.name, route: route.replace(v.account, '0x…'), spanMs: v.spanMs, targetMs: HISTORY_TARGET_MS, runs,
        p50Ms: nearestRank(ms, 50), maxMs: Math.max(...ms), p50HistoryMs: nearestRank(runs.map((r) => r.historyMs), 50),
        met: nearestRank(ms, 50) < HISTORY_TARGET_MS,
      });
    }
    return {
      epochMinutes: o.epochMinutes, seed: seeded.seed, ecg1h: out[0]!, vitals7d: out[1]!,
      targets: { ecg1hUnder1500ms: out[0]!.met, vitals7dUnder1500ms: out[1]!.met },
    };
  } finally {
    await browser?.close();
    await server.stop(60_000);
  }
}

/** The history server's entry point (history-server.ts, built next to this file). */
const HISTORY_SERVER = fileURLToPath(new URL('./history-server.js', import.meta.url));

const TRACE_CATEGORIES = ['devtools.timeline', 'disabled-by-default-devtools.timeline', 'v8.execute', 'disabled-by-default-v8.cpu_profiler', 'blink.user_timing', 'loading', 'netlog'];
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-dev-shm-usage'];
export const historyRoute = (account: string, spanMs: number): string => `#/patient/${account}/history/${spanMs}`;

const kib = (b: number) => Math.round(b / 1024);

/** Waits until this process uses under `percent` of a core over 2 s (true), or `maxMs` passed (false). */
async function settle(percent: number, maxMs: number): Promise<boolean> {
  for (const end = Date.now() + maxMs; Date.now() < end;) {
    const u0 = process.cpuUsage();
    const t0 = performance.now();
    await sleep(2000);
    const u = process.cpuUsage(u0);
    if ((u.user + u.system) / 1000 / (performance.now() - t0) < percent / 100) return true;
  }
  return false;
}

function demoAccountKey(dataDir: string): string {
  const key = parseClinicianKey(readFileSync(join(dataDir, 'demo-clinician.key'), 'utf8'));
  if (!key.ok) throw new Error(key.reason);
  return `0x${Buffer.from(key.value.accountKey).toString('hex')}`;
}

// Runs in the page (functions, not strings: the page's CSP refuses eval; self-contained). No DOM types here.
type Doc = { body: { dataset: Record<string, string | undefined> }; querySelectorAll(s: string): { length: number } };

/** One cold run: a fresh context signs in by the demo link, then the route is set and timed. */
export async function measureHistory(browser: Browser, signInUrl: string, route: string, spanMs: number, tracePath?: string): Promise<HistoryRun> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  try {
    const page: Page = await context.newPage();
    await page.goto(signInUrl);
    await page.waitForFunction(() => (globalThis as unknown as { document: Doc }).document.querySelectorAll('table.patients tbody tr').length > 0, undefined, { timeout: 60_000 });
    const origin = new URL(signInUrl).origin;
    let counting = false;
    const sizes: Array<Promise<void>> = [];
    const r = { bytes: 0, requests: 0, bundleRequests: 0, chainRequests: 0 };
    page.on('requestfinished', (req) => {
      if (!counting) return;
      const url = new URL(req.url());
      r.requests++;
      if (url.origin !== origin) r.chainRequests++;
      else if (url.pathname === '/v1/clinician/bundle') r.bundleRequests++;
      sizes.push(req.sizes().then((s) => { r.bytes += s.responseBodySize; }, () => undefined));
    });
    // A Chromium trace of the navigation (every thread, workers included, with V8's CPU samples): chrome://tracing or ui.perfetto.dev.
    if (tracePath) await browser.startTracing(page, { path: tracePath, categories: TRACE_CATEGORIES });
    counting = true;
    const t0 = Date.now();
    await page.evaluate((h) => { (globalThis as unknown as { location: { hash: string } }).location.hash = h; }, route);
    await page.waitForFunction((span) => (globalThis as unknown as { document: Doc }).document.body.dataset.historyLoaded === String(span), spanMs, { timeout: 120_000, polling: 'raf' });
    const ms = Date.now() - t0;
    const stats = await page.evaluate(() => {
      const s = (globalThis as unknown as { vitalgateStats: { history?: { ms: number; kind: string; bytes: number; batches: number; points: number }; chainCalls: number } }).vitalgateStats;
      return { history: s.history, chainCalls: s.chainCalls };
    });
    counting = false;
    if (tracePath) await browser.stopTracing();
    await Promise.all(sizes);
    const h = stats.history;
    if (!h) throw new Error('the page kept no history figures (globalThis.vitalgateStats.history)');
    return { ms, historyMs: h.ms, kind: h.kind, batches: h.batches, points: h.points, historyBytes: h.bytes, chainCalls: stats.chainCalls, ...r };
  } finally {
    await context.close();
  }
}

/** The human-readable lines of this section. */
export function historyLines(h: HistoryResult): string[] {
  const s = h.seed;
  const L = [
    `Dashboard history (Chromium; the pipeline in process; epochs of ${h.epochMinutes} min of the readings' time):`,
    `  seeded in ${s.seconds} s: 1 h of ECG, ${s.ecg.samples} samples in ${s.ecg.batches} batches over ${s.ecg.epochs} epochs (then live); ${s.vitals.days} d of HR + SpO2, ${s.vitals.readings} readings in ${s.vitals.batches} batches over ${s.vitals.epochs} epochs; ${s.summariesSealed} summaries, ${s.envelopesIssued} key envelopes, ${s.anchors} anchors`,
  ];
  for (const v of [h.ecg1h, h.vitals7d]) {
    const mid = [...v.runs].sort((a, b) => a.ms - b.ms)[Math.ceil(v.runs.length / 2) - 1]!;
    L.push(`  ${v.name} (${v.route}), setting the route → drawn, ${v.runs.length} cold runs: p50 ${v.p50Ms} ms, max ${v.maxMs} ms (${v.runs.map((r) => r.ms).join(', ')}); the history itself p50 ${v.p50HistoryMs} ms; target < ${v.targetMs} ms: ${v.met ? 'met' : 'MISSED'}`);
    L.push(`    per run (the median one): ${mid.kind}, ${mid.batches} batches, ${mid.points} points; ${kib(mid.bytes)} KiB over ${mid.requests} responses (${mid.bundleRequests} bundle pages = ${kib(mid.historyBytes)} KiB, ${mid.chainRequests} to the chain for ${mid.chainCalls} anchor roots)`);
  }
  return L;
}
