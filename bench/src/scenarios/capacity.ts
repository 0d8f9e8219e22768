/**
 * Capacity (`npm run bench -- --capacity`): the largest number of mixed-profile devices, each paced
 * at its real rates (harness/paced-load.ts), that one machine carries with nothing lost and p99
 * publish → durable within the batch window + 500 ms. Each step starts fresh processes on a fresh
 * data directory and reconciles every acknowledged reading against the sealed store, as the
 * sustained scenario does; the search (harness/bisect.ts) runs per broker mode: our broker process,
 * Mosquitto, and the gateway hosting the broker in its own process. Then overload (1.5× and 2× the
 * capacity: does anything acknowledged get lost when it is exceeded?) and repeated runs at 1000.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { dataDirLayout, readStore } from '@vitalgate/edge-gateway';
import { findProgram } from '@vitalgate/test-support';
import { searchCapacity, type SearchResult } from '../harness/bisect.js';
import { sleep, withTimeout, type Child, type Log } from '../harness/child.js';
import { CpuMeter, fmtCpu, round1 } from '../harness/cpu-meter.js';
import { IndexTail, waitForSealed } from '../harness/index-tail.js';
import { gatewayServesMqtt, mosquittoBroker, startGatewayProcess, startGatewayServingMqtt, vitalgateBroker, type BrokerUnderTest } from '../harness/launchers.js';
import type { Histogram } from '../harness/ledger.js';
import { PacedLoad } from '../harness/paced-load.js';
import { startProgress } from '../harness/progress.js';
import { STEADY_AFTER_S } from './sustained.js';

export type BrokerMode = 'ours' | 'mosquitto' | 'in-process';
export const BROKER_MODES: readonly BrokerMode[] = ['ours', 'mosquitto', 'in-process'];

/** The gateway's batch window; a step passes with steady p99 publish → durable ≤ this + 500 ms. */
export const BATCH_WINDOW_MS = 2000;
export const P99_BOUND_MS = BATCH_WINDOW_MS + 500;
/** Devices that fall further behind their schedule than this (p99) did not keep up: the step fails. */
export const PUBLISH_LAG_BOUND_MS = 1000;

export interface StepOptions {
  mode: BrokerMode;
  devices: number;
  seconds: number;
  window: number;
  /** A fresh directory for this step (removed afterwards unless `keep`). */
  dir: string;
  passphrase: string;
  passphraseFile: string;
  mosquittoBin?: string;
  label: string;
  keep?: boolean;
  log: Log;
  onCleanup: (f: () => Promise<void>) => void;
}

type Pcts = { p50: number | null; p99: number | null; max: number | null };
type Summary = { mean: number | null; p50: number | null; p99: number | null };

export interface StepStages {
  /** The bench's: a reading's publish (written to the socket) → its batch durable (the index's durableAt). */
  publishToDurable: Summary;
  /** The gateway's own: the reading taken in → its batch durable; null when the build does not print it. */
  receiveToDurable: (Summary & { readings: number | null; max: number | null }) | null;
  /** publishToDurable.mean − receiveToDurable.mean: broker and network (means add up, percentiles do not). */
  publishToReceiveMean: number | null;
  /** Not measured here (no ingest): the cloud scenario measures uploads. */
  durableToUploaded: null;
}

export interface CapacityStep {
  mode: BrokerMode;
  label: string;
  devices: number;
  seconds: number;
  pass: boolean;
  /** Why it failed (empty when it passed). */
  reasons: string[];
  /** A harness error ended the step (a process did not start, crashed, a phase timed out). */
  error: string | null;
  offeredPerSec: number;
  publishedPerSec: number;
  deliveredPerSec: number;
  latencyMs: Pcts;
  steadyLatencyMs: { fromSecond: number; readings: number; p50: number | null; p99: number | null; max: number | null };
  pubackRttMs: Pcts;
  publishLagMs: Pcts;
  /** Readings due on schedule that the devices never got to send (they were held back by the window). */
  unsent: number;
  /** % of one core over the publishing time (2 cores = 200 %); broker null in-process (it is the gateway's). */
  cpuPercent: { broker: number | null; gateway: number | null; loadGenerator: number; loadGeneratorSystem: number; machineBusyPercentOfAllCores: number | null; otherProcesses: number | null };
  /** Peak RSS (VmHWM) of the broker; in-process, the gateway process (which hosts the broker). */
  brokerPeakRssMb: number | null;
  brokerRssIsGatewayProcess: boolean;
  gatewayPeakRssMb: number | null;
  published: number;
  acked: number;
  found: number;
  lost: number;
  duplicates: number;
  invented: number;
  failed: number;
  unreadableBatches: number;
  disconnects: number;
  drainSeconds: number;
  /** Readings in the gateway's index when it was stopped, and whether that reached `acked` before. */
  sealedInIndex: number;
  gatewayDrained: boolean;
  gatewayExitCode: number | null;
  stages: StepStages;
  stepSeconds: number;
}

const pcts = (h: Histogram): Pcts => ({ p50: h.percentile(50), p99: h.percentile(99), max: h.count ? Math.round(h.max) : null });
const mean1 = (h: Histogram): number | null => (h.count ? round1(h.mean()!) : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** The gateway's `{"event":"stages",…}` line, or null when it is missing or malformed. */
export function parseStages(msg: Record<string, unknown> | undefined): StepStages['receiveToDurable'] {
  const r = msg?.receiveToDurableMs as Record<string, unknown> | undefined;
  if (!msg || typeof r !== 'object' || r === null) return null;
  return { readings: num(msg.readings), mean: num(r.mean), p50: num(r.p50), p99: num(r.p99), max: num(r.max) };
}

/** One capacity step: fresh processes, fresh data directory, N paced devices, exact reconciliation. */
export async function runCapacityStep(o: StepOptions): Promise<CapacityStep> {
  const { log } = o;
  const tag = `capacity ${o.mode} ${o.label} ${o.devices}`;
  const stepStart = Date.now();
  const dataDir = join(o.dir, 'data');
  await mkdir(o.dir, { recursive: true });
  let broker: BrokerUnderTest | undefined;
  let gateway: Child | undefined;
  let load: PacedLoad | undefined;
  let stagesMsg: Record<string, unknown> | undefined;
  const closeLoad = async () => void (await load?.close().catch(() => undefined));
  o.onCleanup(closeLoad);
  try {
    let url: string;
    if (o.mode === 'in-process') {
      const g = await startGatewayServingMqtt(log, dataDir, o.passphraseFile);
      gateway = g.child;
      url = g.url;
    } else {
      if (o.mode === 'mosquitto') {
        if (!o.mosquittoBin) throw new Error('mosquitto is not installed (apt-get install mosquitto)');
        broker = await mosquittoBroker(o.mosquittoBin, o.dir, 'capacity');
      } else broker = await vitalgateBroker(log);
      url = broker.url;
      gateway = await startGatewayProcess(log, url, dataDir, o.passphraseFile);
    }
    const gw = gateway;
    gw.onMessage((m) => {
      if (m.event === 'stages') stagesMsg = m;
    });
    const u = new URL(url);
    load = new PacedLoad({ host: u.hostname, port: Number(u.port), devices: o.devices, seconds: o.seconds, window: o.window });
    let lastConnLog = 0;
    await withTimeout(load.connect((n) => {
      if (Date.now() - lastConnLog > 3000 || n === o.devices) {
        lastConnLog = Date.now();
        log(`${tag}: connecting devices ${n}/${o.devices}`);
      }
    }), 60_000 + o.devices * 50, `connecting ${o.devices} devices`);

    const tail = new IndexTail(dataDirLayout(dataDir).index);
    const procs = [...(broker ? [{ name: 'broker', child: broker.cpu }] : []), { name: 'gateway', child: gw }];
    const cpu = new CpuMeter(procs);
    const ledger = load.ledger;
    const steadyAfterS = Math.min(STEADY_AFTER_S, o.seconds / 2);
    ledger.steadyFrom = Date.now() + steadyAfterS * 1000;
    const started = Date.now();
    const stopProgress = startProgress({
      tag, seconds: o.seconds, tail, cpu, log, acked: () => load!.stats().acked,
      detail: () => { const s = load!.stats(); return `of ${load!.offeredPerSec.toFixed(0)}/s offered, in flight ${s.inFlight} behind ${load!.worstLagNow()} ms failed ${s.failed}`; },
    });
    let res;
    try {
      res = await load.run();
    } finally {
      stopProgress();
    }
    const c = cpu.read();
    const runEnded = Date.now();

    // The gateway seals the rest in its own time (its batch windows).
    const drained = await waitForSealed(tail, () => ledger.acked, gw, (sealed, acked) => log(`${tag}: draining, sealed ${sealed}/${acked}`));
    const drainSeconds = round1((Date.now() - runEnded) / 1000);
    if (!drained) log(`${tag}: the gateway stopped making progress at ${tail.readings}/${ledger.acked} sealed; stopping it anyway`);

    const gatewayPeakRssMb = gw.peakRssMb() ?? null;
    const brokerPeakRssMb = broker ? broker.peakRssMb() ?? null : gatewayPeakRssMb;
    const gx = await gw.stop(120_000);
    // The stages line is written on the way out: stdout may still be draining after the exit.
    if (!stagesMsg) await Promise.race([new Promise((r) => gw.proc.once('close', r)), sleep(2000)]);
    await closeLoad();
    await broker?.stop();
    await tail.poll();

    let unreadable = 0;
    let batches = 0;
    let lastReadLog = Date.now();
    for await (const b of readStore(dataDir, o.passphrase)) {
      if (Date.now() - lastReadLog > 3000) {
        lastReadLog = Date.now();
        log(`${tag}: reading the sealed store back, ${batches} batches`);
      }
      batches++;
      if (!b.ok) {
        if (++unreadable <= 3) log(`${tag}: batch ${b.id} unreadable: ${b.reason}`);
        continue;
      }
      ledger.foundBatch(b.header.deviceId, b.header.stream, b.bodies, tail.durableAt.get(b.id));
    }
    const r = ledger.reconcile();
    const receiveToDurable = parseStages(stagesMsg);
    const publishToDurable = { mean: mean1(ledger.latency), p50: ledger.latency.percentile(50), p99: ledger.latency.percentile(99) };
    const steady = pcts(ledger.steadyLatency);
    const step: CapacityStep = {
      mode: o.mode,
      label: o.label,
      devices: o.devices,
      seconds: o.seconds,
      pass: false,
      reasons: [],
      error: null,
      offeredPerSec: res.offeredPerSec,
      publishedPerSec: round1(res.published / o.seconds),
      deliveredPerSec: round1(r.found / o.seconds),
      latencyMs: pcts(ledger.latency),
      steadyLatencyMs: { fromSecond: steadyAfterS, readings: ledger.steadyLatency.count, p50: steady.p50, p99: steady.p99, max: steady.max },
      pubackRttMs: res.pubackRtt,
      publishLagMs: res.publishLag,
      unsent: res.unsent,
      cpuPercent: {
        broker: broker ? c.broker ?? null : null,
        gateway: c.gateway ?? null,
        loadGenerator: res.cpuPercent,
        loadGeneratorSystem: res.cpuSystemPercent,
        machineBusyPercentOfAllCores: c.machineBusyPercentOfAllCores ?? null,
        otherProcesses: c.otherProcesses ?? null,
      },
      brokerPeakRssMb: brokerPeakRssMb === null ? null : round1(brokerPeakRssMb),
      brokerRssIsGatewayProcess: !broker,
      gatewayPeakRssMb: gatewayPeakRssMb === null ? null : round1(gatewayPeakRssMb),
      published: res.published,
      acked: ledger.acked,
      found: r.found,
      lost: r.lost,
      duplicates: r.duplicates,
      invented: r.invented + unreadable,
      failed: ledger.failed,
      unreadableBatches: unreadable,
      disconnects: res.disconnects,
      drainSeconds,
      sealedInIndex: tail.readings,
      gatewayDrained: drained,
      gatewayExitCode: gx.code,
      stages: {
        publishToDurable,
        receiveToDurable,
        publishToReceiveMean: receiveToDurable?.mean != null && publishToDurable.mean !== null ? round1(publishToDurable.mean - receiveToDurable.mean) : null,
        durableToUploaded: null,
      },
      stepSeconds: round1((Date.now() - stepStart) / 1000),
    };
    judge(step);
    return step;
  } finally {
    await closeLoad();
    await Promise.all([gateway?.stop(10_000), broker?.stop()]);
    if (!o.keep) await rm(o.dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** Pass = nothing acknowledged lost (nor duplicated, invented, failed), steady p99 within bound, devices kept up. */
export function judge(s: CapacityStep): void {
  const reasons: string[] = [];
  if (s.error) reasons.push(`error: ${s.error}`);
  if (s.acked === 0) reasons.push('nothing acknowledged');
  if (s.lost) reasons.push(`${s.lost} lost`);
  if (s.duplicates) reasons.push(`${s.duplicates} duplicates`);
  if (s.invented) reasons.push(`${s.invented} invented`);
  if (s.failed) reasons.push(`${s.failed} failed publishes`);
  if (s.steadyLatencyMs.p99 === null || s.steadyLatencyMs.p99 > P99_BOUND_MS) reasons.push(`steady p99 ${s.steadyLatencyMs.p99} ms > ${P99_BOUND_MS} ms`);
  if (s.unsent > 0) reasons.push(`${s.unsent} readings never sent (devices behind)`);
  if (s.publishLagMs.p99 !== null && s.publishLagMs.p99 > PUBLISH_LAG_BOUND_MS) reasons.push(`publish lag p99 ${s.publishLagMs.p99} ms > ${PUBLISH_LAG_BOUND_MS} ms`);
  s.reasons = reasons;
  s.pass = reasons.length === 0;
}

/** A step that ended in a harness error: failed, with the figures it never got to as zero/null. */
export function erroredStep(mode: BrokerMode, label: string, devices: number, seconds: number, error: string): CapacityStep {
  const none = { p50: null, p99: null, max: null };
  const s: CapacityStep = {
    mode, label, devices, seconds, pass: false, reasons: [], error,
    offeredPerSec: 0, publishedPerSec: 0, deliveredPerSec: 0, latencyMs: none, steadyLatencyMs: { fromSecond: 0, readings: 0, ...none },
    pubackRttMs: none, publishLagMs: none, unsent: 0,
    cpuPercent: { broker: null, gateway: null, loadGenerator: 0, loadGeneratorSystem: 0, machineBusyPercentOfAllCores: null, otherProcesses: null },
    brokerPeakRssMb: null, brokerRssIsGatewayProcess: mode === 'in-process', gatewayPeakRssMb: null,
    published: 0, acked: 0, found: 0, lost: 0, duplicates: 0, invented: 0, failed: 0, unreadableBatches: 0, disconnects: 0,
    drainSeconds: 0, sealedInIndex: 0, gatewayDrained: false, gatewayExitCode: null,
    stages: { publishToDurable: { mean: null, p50: null, p99: null }, receiveToDurable: null, publishToReceiveMean: null, durableToUploaded: null },
    stepSeconds: 0,
  };
  judge(s);
  return s;
}

export function stepLine(s: CapacityStep): string {
  const f = (v: number | null) => (v === null ? '-' : String(v));
  if (s.error) return `${s.mode} ${s.label} ${s.devices} devices: ERROR ${s.error.split('\n')[0]}`;
  return `${s.mode} ${s.label} ${s.devices} devices: ${s.pass ? 'PASS' : 'FAIL'} ` +
    `offered ${s.offeredPerSec}/s delivered ${s.deliveredPerSec}/s, p50/p99/max ${f(s.latencyMs.p50)}/${f(s.latencyMs.p99)}/${f(s.latencyMs.max)} ms (steady p99 ${f(s.steadyLatencyMs.p99)}), ` +
    `PUBACK p50/p99 ${f(s.pubackRttMs.p50)}/${f(s.pubackRttMs.p99)} ms, lag p99 ${f(s.publishLagMs.p99)} ms, ` +
    `cpu% broker ${f(s.cpuPercent.broker)} gateway ${f(s.cpuPercent.gateway)} load ${s.cpuPercent.loadGenerator} (sys ${s.cpuPercent.loadGeneratorSystem}) machine ${f(s.cpuPercent.machineBusyPercentOfAllCores)}, ` +
    `rss broker ${f(s.brokerPeakRssMb)}${s.brokerRssIsGatewayProcess ? ' (gateway process)' : ''} gateway ${f(s.gatewayPeakRssMb)} MiB, ` +
    `lost ${s.lost} dup ${s.duplicates} invented ${s.invented} failed ${s.failed}` +
    (s.reasons.length ? ` [${s.reasons.join('; ')}]` : '');
}

export interface CapacityOptions {
  modes: readonly BrokerMode[];
  /** Modes the user named (a missing one is then an error, not a skip). */
  modesExplicit: boolean;
  seconds: number;
  min: number;
  max: number;
  resolution?: number;
  window: number;
  overload: boolean;
  repeatAt: number;
  repeat: number;
  dir: string;
  passphrase: string;
  passphraseFile: string;
  keep: boolean;
  log: Log;
  onCleanup: (f: () => Promise<void>) => void;
}

export interface ModeCapacity {
  /** Largest N that passed (the capacity), null when none did or the mode did not run. */
  devices: number | null;
  passedAt: number | null;
  failedAt: number | null;
  /** max passed: the capacity is at least `devices`. */
  capped: boolean;
  tried: SearchResult['tried'];
  skipped: string | null;
  error: string | null;
}

export interface OverloadRun {
  mode: BrokerMode;
  factor: number;
  devices: number;
  p99Ms: number | null;
  steadyP99Ms: number | null;
  pubackP99Ms: number | null;
  publishLagP99Ms: number | null;
  brokerPeakRssMb: number | null;
  lost: number;
  failed: number;
  /** Nothing acknowledged lost (the requirement at any load). */
  nothingLost: boolean;
  error: string | null;
}

export interface RepeatRuns {
  devices: number;
  runs: number;
  byMode: Partial<Record<'ours' | 'inProcess', { p99Ms: Array<number | null>; steadyP99Ms: Array<number | null>; allPassed: boolean; allWithinBound: boolean }>>;
}

export interface CapacityResult {
  capacity: { ours: ModeCapacity; mosquitto: ModeCapacity; inProcess: ModeCapacity };
  steps: CapacityStep[];
  overload: OverloadRun[];
  repeats: RepeatRuns | null;
  loadGenerator: { cpuPercentAt1000: number | null; measuredAtDevices: number | null };
  targets: { p99At1000In5Of5: boolean | null; p99At1000In5Of5InProcess: boolean | null; capacityAtLeast1500: boolean | null; loadGeneratorUnder25Pct: boolean | null };
  /** Modes that were asked for but could not run (a harness error: exit status 1). */
  errors: string[];
  benchSeconds: number;
}

export const modeKey = (m: BrokerMode): 'ours' | 'mosquitto' | 'inProcess' => (m === 'in-process' ? 'inProcess' : m);

const notRun = (why: string | null, error: string | null = null): ModeCapacity => ({ devices: null, passedAt: null, failedAt: null, capped: false, tried: [], skipped: why, error });

export async function runCapacity(o: CapacityOptions): Promise<CapacityResult> {
  const t0 = Date.now();
  const { log } = o;
  const steps: CapacityStep[] = [];
  const errors: string[] = [];
  const mosquittoBin = findProgram('mosquitto') ?? findProgram('/usr/sbin/mosquitto');
  const servesMqtt = gatewayServesMqtt();
  let stepNo = 0;
  const step = async (mode: BrokerMode, label: string, devices: number): Promise<CapacityStep> => {
    const dir = join(o.dir, `${String(++stepNo).padStart(3, '0')}-${mode}-${devices}`);
    log(`capacity ${mode} ${label}: ${devices} devices × ${o.seconds} s`);
    let s: CapacityStep;
    try {
      s = await runCapacityStep({ mode, devices, seconds: o.seconds, window: o.window, dir, passphrase: o.passphrase, passphraseFile: o.passphraseFile, mosquittoBin, label, keep: o.keep, log, onCleanup: o.onCleanup });
    } catch (e) {
      s = erroredStep(mode, label, devices, o.seconds, (e as Error).message);
    }
    steps.push(s);
    log(`capacity result: ${stepLine(s)}`);
    return s;
  };

  const capacity: CapacityResult['capacity'] = { ours: notRun('not asked for'), mosquitto: notRun('not asked for'), inProcess: notRun('not asked for') };
  const overload: OverloadRun[] = [];
  for (const mode of o.modes) {
    const key = modeKey(mode);
    const unavailable = mode === 'mosquitto' && !mosquittoBin ? 'mosquitto is not installed (apt-get install mosquitto)'
      : mode === 'in-process' && !servesMqtt ? 'this build\'s `vitalgate gateway` has no --serve-mqtt (the gateway hosting the broker): build a CLI that has it'
      : null;
    if (unavailable) {
      const mustRun = o.modesExplicit || (mode === 'mosquitto' && process.env.CI === 'true');
      log(`capacity ${mode}: ${mustRun ? 'ERROR' : '!!! SKIPPED'}: ${unavailable}`);
      capacity[key] = notRun(mustRun ? null : unavailable, mustRun ? unavailable : null);
      if (mustRun) errors.push(`${mode}: ${unavailable}`);
      continue;
    }
    log(`capacity ${mode}: searching ${o.min}..${o.max} devices`);
    const found = await searchCapacity({ min: o.min, max: o.max, resolution: o.resolution }, async (n) => (await step(mode, 'search', n)).pass);
    const modeSteps = steps.filter((s) => s.mode === mode);
    const allErrored = modeSteps.length > 0 && modeSteps.every((s) => s.error);
    if (allErrored) errors.push(`${mode}: every step failed with an error (first: ${modeSteps[0]!.error})`);
    capacity[key] = {
      devices: found.passedAt, passedAt: found.passedAt, failedAt: found.failedAt, capped: found.failedAt === null && found.passedAt !== null,
      tried: found.tried, skipped: null, error: allErrored ? modeSteps[0]!.error : null,
    };
    log(`capacity ${mode}: ${found.passedAt === null ? `none (${o.min} failed)` : `${found.passedAt} devices`}${found.failedAt !== null ? `, ${found.failedAt} failed` : ' (the maximum tried)'}`);
    if (o.overload && found.passedAt !== null && !allErrored) {
      for (const factor of [1.5, 2]) {
        const n = Math.round((found.passedAt * factor) / 10) * 10;
        const s = await step(mode, `overload ${factor}x`, n);
        overload.push({
          mode, factor, devices: n, p99Ms: s.latencyMs.p99, steadyP99Ms: s.steadyLatencyMs.p99, pubackP99Ms: s.pubackRttMs.p99, publishLagP99Ms: s.publishLagMs.p99,
          brokerPeakRssMb: s.brokerPeakRssMb, lost: s.lost, failed: s.failed, nothingLost: !s.error && s.lost === 0 && s.duplicates === 0 && s.invented === 0, error: s.error,
        });
      }
    }
  }

  let repeats: RepeatRuns | null = null;
  const repeatModes = (['ours', 'in-process'] as const).filter((m) => o.modes.includes(m) && !(m === 'in-process' && !servesMqtt));
  if (o.repeat > 0 && repeatModes.length) {
    repeats = { devices: o.repeatAt, runs: o.repeat, byMode: {} };
    for (const mode of repeatModes) {
      const runs: CapacityStep[] = [];
      for (let k = 1; k <= o.repeat; k++) runs.push(await step(mode, `repeat ${k}/${o.repeat}`, o.repeatAt));
      repeats.byMode[mode === 'ours' ? 'ours' : 'inProcess'] = {
        p99Ms: runs.map((s) => s.latencyMs.p99),
        steadyP99Ms: runs.map((s) => s.steadyLatencyMs.p99),
        allPassed: runs.every((s) => s.pass),
        allWithinBound: runs.every((s) => !s.error && s.latencyMs.p99 !== null && s.latencyMs.p99 <= P99_BOUND_MS),
      };
    }
  }

  // The generator's cost at 1000 devices: from a step at exactly 1000 if there was one, else scaled
  // linearly from the step nearest to it (its work is per reading).
  const clean = steps.filter((s) => !s.error && s.cpuPercent.loadGenerator > 0);
  const at1000 = clean.filter((s) => s.devices === 1000);
  const nearest = [...clean].sort((a, b) => Math.abs(a.devices - 1000) - Math.abs(b.devices - 1000))[0];
  const cpuAt1000 = at1000.length
    ? round1(at1000.reduce((x, s) => x + s.cpuPercent.loadGenerator, 0) / at1000.length)
    : nearest ? round1((nearest.cpuPercent.loadGenerator * 1000) / nearest.devices) : null;
  const ours = repeats?.byMode.ours;
  const inProcess = repeats?.byMode.inProcess;
  // Ours: the broker process or the gateway hosting it, whichever carries more; Mosquitto is the reference.
  const ourModes = [capacity.ours, capacity.inProcess].filter((c) => c.skipped === null && c.error === null);
  const ourModesRan = ourModes.length > 0;
  const best = Math.max(0, ...ourModes.map((c) => c.devices ?? 0));
  return {
    capacity,
    steps,
    overload,
    repeats,
    loadGenerator: { cpuPercentAt1000: cpuAt1000, measuredAtDevices: at1000.length ? 1000 : nearest?.devices ?? null },
    targets: {
      // Only for what the target names: 1000 devices, at least five runs.
      p99At1000In5Of5: ours && o.repeatAt === 1000 && o.repeat >= 5 ? ours.allWithinBound : null,
      // The same for the edge box's mode, reported beside it, never in its place.
      p99At1000In5Of5InProcess: inProcess && o.repeatAt === 1000 && o.repeat >= 5 ? inProcess.allWithinBound : null,
      capacityAtLeast1500: ourModesRan ? best >= 1500 : null,
      loadGeneratorUnder25Pct: cpuAt1000 === null ? null : cpuAt1000 < 25,
    },
    errors,
    benchSeconds: Math.round((Date.now() - t0) / 100) / 10,
  };
}

/** Readable lines, with the side-by-side capacity table. */
export function capacityHuman(r: CapacityResult): string {
  const out: string[] = [];
  const f = (v: number | boolean | null | undefined) => (v === null || v === undefined ? '-' : String(v));
  out.push('Capacity (mixed profile at real rates, QoS 1; pass = nothing lost, steady p99 publish → durable <= 2500 ms, devices kept up)');
  const cols: Array<[string, ModeCapacity]> = [['ours', r.capacity.ours], ['Mosquitto', r.capacity.mosquitto], ['in-process', r.capacity.inProcess]];
  const cell = (c: ModeCapacity) => (c.error ? 'error' : c.skipped ? 'skipped' : c.devices === null ? `< ${c.failedAt}` : c.capped ? `>= ${c.devices}` : String(c.devices));
  const pad = (s: string, n: number) => s.padEnd(n);
  out.push(`  ${pad('', 22)}${cols.map(([n]) => pad(n, 14)).join('')}`);
  out.push(`  ${pad('devices (capacity)', 22)}${cols.map(([, c]) => pad(cell(c), 14)).join('')}`);
  out.push(`  ${pad('first failing N', 22)}${cols.map(([, c]) => pad(f(c.failedAt), 14)).join('')}`);
  const atCap = (m: BrokerMode, c: ModeCapacity) => r.steps.find((s) => s.mode === m && s.label === 'search' && s.devices === c.devices);
  const row = (name: string, g: (s: CapacityStep) => number | null) =>
    out.push(`  ${pad(name, 22)}${cols.map(([, c], i) => { const s = atCap(BROKER_MODES[i]!, c); return pad(s ? f(g(s)) : '-', 14); }).join('')}`);
  row('delivered/s at cap.', (s) => s.deliveredPerSec);
  row('p99 ms at cap.', (s) => s.latencyMs.p99);
  row('PUBACK p99 ms', (s) => s.pubackRttMs.p99);
  row('broker cpu %', (s) => s.cpuPercent.broker);
  row('gateway cpu %', (s) => s.cpuPercent.gateway);
  row('broker peak RSS MiB', (s) => s.brokerPeakRssMb);
  for (const [n, c] of cols) if (c.skipped || c.error) out.push(`  ${n}: ${c.error ?? c.skipped}`);
  out.push('', 'Steps:');
  for (const s of r.steps) {
    out.push(`  ${stepLine(s)}`);
    const st = s.stages;
    if (!s.error) out.push(`    stages: publish → durable mean ${f(st.publishToDurable.mean)} p50 ${f(st.publishToDurable.p50)} p99 ${f(st.publishToDurable.p99)} ms; receive → durable ${st.receiveToDurable ? `mean ${f(st.receiveToDurable.mean)} p50 ${f(st.receiveToDurable.p50)} p99 ${f(st.receiveToDurable.p99)} ms` : 'not reported by this gateway'}; publish → receive mean ${f(st.publishToReceiveMean)} ms`);
  }
  if (r.overload.length) {
    out.push('', 'Overload:');
    for (const x of r.overload) out.push(`  ${x.mode} ${x.factor}x (${x.devices} devices): p99 ${f(x.p99Ms)} ms, PUBACK p99 ${f(x.pubackP99Ms)} ms, lag p99 ${f(x.publishLagP99Ms)} ms, broker RSS ${f(x.brokerPeakRssMb)} MiB, lost ${x.lost}${x.nothingLost ? '' : ' !!'}${x.error ? ` error ${x.error}` : ''}`);
  }
  if (r.repeats) {
    out.push('', `Repeats at ${r.repeats.devices} devices:`);
    for (const [m, v] of Object.entries(r.repeats.byMode)) out.push(`  ${m}: p99 ${v.p99Ms.map(f).join(', ')} ms; all <= ${P99_BOUND_MS} ms: ${v.allWithinBound ? 'yes' : 'NO'}`);
  }
  out.push('', `Load generator: ${f(r.loadGenerator.cpuPercentAt1000)} % of one core at 1000 devices${r.loadGenerator.measuredAtDevices !== 1000 && r.loadGenerator.measuredAtDevices !== null ? ` (scaled from ${r.loadGenerator.measuredAtDevices})` : ''}`);
  out.push(`Targets: p99At1000In5Of5 ${f(r.targets.p99At1000In5Of5)} (in-process ${f(r.targets.p99At1000In5Of5InProcess)}) capacityAtLeast1500 ${f(r.targets.capacityAtLeast1500)} loadGeneratorUnder25Pct ${f(r.targets.loadGeneratorUnder25Pct)}`);
  if (r.errors.length) out.push(`Errors: ${r.errors.join('; ')}`);
  out.push(`Bench: ${r.benchSeconds} s`);
  return out.join('\n') + '\n';
}
