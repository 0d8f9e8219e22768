/**
 * Sustained load: the device simulator (in this process) against the broker and gateway processes,
 * then every acknowledged reading is looked up in what the gateway sealed.
 */
import { Simulation } from '@vitalgate/device-sim';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { dataDirLayout, Keystore, readStore } from '@vitalgate/edge-gateway';
import { PMS_BYTES } from '@vitalgate/protocol';
import { IndexTail, waitForSealed } from '../harness/index-tail.js';
import { dueAt, Ledger } from '../harness/ledger.js';
import { withTimeout, type Child, type Log } from '../harness/child.js';
import { CpuMeter, fmtCpu, procStatusKb, round1 } from '../harness/cpu-meter.js';
import { startBrokerProcess, startGatewayProcess } from '../harness/launchers.js';
import { startProgress } from '../harness/progress.js';

/** Readings published this long after the start (at most half the run) count towards the steady-state latency figures. */
export const STEADY_AFTER_S = 5;

export interface SustainedOptions {
  devices: number;
  seconds: number;
  dataDir: string;
  passphrase: string;
  passphraseFile: string;
  /** Enrol the simulated patients in the gateway's keystore before the gateway starts. */
  preEnroll: boolean;
  log: Log;
  /** Registers a cleanup to run on interruption (the simulation's connections). */
  onCleanup: (f: () => Promise<void>) => void;
}

export interface SustainedResult {
  devices: number;
  seconds: number;
  offeredMessagesPerSec: number;
  publishedMessagesPerSec: number;
  deliveredMessagesPerSec: number;
  samplesPerSec: number;
  p50LatencyMs: number | null;
  p99LatencyMs: number | null;
  maxLatencyMs: number | null;
  /** Latency of readings published ≥ STEADY_AFTER_S s after the start (first patient enrolments excluded). */
  steadyState: { fromSecond: number; readings: number; p50LatencyMs: number | null; p99LatencyMs: number | null };
  /** Peak RSS (VmHWM) of the gateway; includes the 128 MiB the keystore's scrypt uses at start. */
  rssMb: number | null;
  /** The gateway's RSS when it was stopped (VmRSS). */
  rssAtEndMb: number | null;
  brokerRssMb: number | null;
  published: number;
  acked: number;
  found: number;
  lost: number;
  duplicates: number;
  invented: number;
  failedPublishes: number;
  foundAfterFailedPublish: number;
  unreadableBatches: number;
  batches: number;
  /** How far behind schedule the simulator published (publish time − time the reading was complete). */
  simLagMs: { p50: number | null; p99: number | null; max: number | null };
  /** Seconds from the start until every publish was acknowledged (= seconds when the broker keeps up). */
  publishingSeconds: number;
  /** Seconds from the end of publishing until the gateway had sealed everything acknowledged. */
  drainSeconds: number;
  gatewayDrained: boolean;
  gatewayExit: { code: number | null; signal: string | null; killed: boolean; seconds: number };
  /** CPU as % of one core while the simulator was publishing (2 cores = 200 %). */
  cpuPercent: Record<string, number>;
  readBackSeconds: number;
  preEnrolled: boolean;
  /** Patients the gateway enrolled itself during the run (first sight of a patient). */
  patientsEnrolledByGateway: number;
}

/** The simulator's patient ids (device-sim Simulation: one device per patient, prefix "patient"). */
export function simPatientIds(devices: number): string[] {
  const width = Math.max(4, String(devices).length);
  return Array.from({ length: devices }, (_, i) => `patient-${String(i + 1).padStart(width, '0')}`);
}

async function countPatients(dataDir: string): Promise<number> {
  try {
    return (await readdir(join(dataDirLayout(dataDir).keys, 'patients'))).filter((f) => f.endsWith('.json')).length;
  } catch {
    return 0;
  }
}

/** Enrols patients the way the gateway does on first sight, but ahead of time and in parallel. */
export async function preEnroll(dataDir: string, passphrase: string, patients: readonly string[]): Promise<void> {
  const ks = await Keystore.open(dataDirLayout(dataDir).keys, passphrase);
  let next = 0;
  const worker = async () => {
    while (next < patients.length) await ks.put(patients[next++]!, randomBytes(PMS_BYTES));
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

export async function runSustained(o: SustainedOptions): Promise<SustainedResult> {
  const { log } = o;
  const broker = await startBrokerProcess(log);
  log(`sustained: broker at ${broker.url} (pid ${broker.child.pid})`);
  let gateway: Child | undefined;
  let sim: Simulation | undefined;
  let simClosed = false;
  const closeSim = async () => {
    if (!sim || simClosed) return;
    simClosed = true;
    await withTimeout(sim.stop(), 5000, 'stopping the simulation').catch(() => undefined);
    await withTimeout(sim.close(), 5000, 'closing the simulated devices').catch(() => undefined);
  };
  o.onCleanup(closeSim);
  try {
    const patients = simPatientIds(o.devices);
    if (o.preEnroll) {
      const t = Date.now();
      await preEnroll(o.dataDir, o.passphrase, patients);
      log(`sustained: pre-enrolled ${patients.length} patients in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    }
    const enrolledBefore = await countPatients(o.dataDir);
    gateway = await startGatewayProcess(log, broker.url, o.dataDir, o.passphraseFile);
    log(`sustained: gateway ready (pid ${gateway.pid}), data dir ${o.dataDir}`);

    sim = new Simulation({
      brokerUrl: broker.url, devices: o.devices, durationS: o.seconds, profile: 'mixed', encoding: 'cbor',
      devicesPerPatient: 1, devicePrefix: 'sim', patientPrefix: 'patient',
    });
    const ledger = new Ledger();
    sim.on('acked', (r) => ledger.ack(r.deviceId, r.stream, r.body.seq, r.publishedAt, dueAt(r.stream, r.body)));
    sim.on('failed', (r) => ledger.fail(r.deviceId, r.body.seq));

    let lastConnLog = 0;
    await withTimeout(sim.connect((n) => {
      const now = Date.now();
      if (now - lastConnLog > 3000 || n === o.devices) {
        lastConnLog = now;
        log(`sustained: connecting devices ${n}/${o.devices}`);
      }
    }), 60_000 + o.devices * 100, `connecting ${o.devices} simulated devices`);

    const tail = new IndexTail(dataDirLayout(o.dataDir).index);
    const procs = [{ name: 'broker', child: broker.child }, { name: 'gateway', child: gateway }];
    const cpu = new CpuMeter(procs);
    const started = Date.now();
    const steadyAfterS = Math.min(STEADY_AFTER_S, o.seconds / 2);
    ledger.steadyFrom = started + steadyAfterS * 1000;
    const stopProgress = startProgress({
      tag: 'sustained', seconds: o.seconds, tail, cpu, log, acked: () => sim!.stats().acked,
      detail: () => { const s = sim!.stats(); return `published ${s.published} in flight ${s.inFlight} failed ${s.failed}`; },
    });
    try {
      await withTimeout(sim.run(), o.seconds * 1000 + 180_000, 'the simulation');
    } finally {
      stopProgress();
    }
    const runEnded = Date.now();
    const cpuPercent = cpu.read();
    const st = sim.stats();
    log(`sustained: publishing done in ${((runEnded - started) / 1000).toFixed(1)} s: ${st.published} published, ${st.acked} acked, ${st.failed} failed; waiting for the gateway to seal them`);

    // The gateway seals every acknowledged reading in its own time (its batch windows).
    const drained = await waitForSealed(tail, () => ledger.acked, gateway, (sealed, acked) =>
      log(`sustained: draining ${((Date.now() - runEnded) / 1000).toFixed(0)}s sealed ${sealed}/${acked} | cpu% ${fmtCpu(cpu.interval())}`));
    const drainSeconds = (Date.now() - runEnded) / 1000;
    if (!drained) log(`sustained: the gateway stopped making progress at ${tail.readings}/${ledger.acked} sealed; stopping it anyway`);

    const rssMb = gateway.peakRssMb() ?? null;
    const rssAtEndMb = procStatusKb(gateway.pid, 'VmRSS') / 1024 || null;
    const brokerRssMb = broker.child.peakRssMb() ?? null;
    const stopT = Date.now();
    const gx = await gateway.stop(120_000);
    const gatewayExit = { code: gx.code, signal: gx.signal, killed: gx.killed, seconds: round1((Date.now() - stopT) / 1000) };
    if (gx.code !== 0) log(`sustained: the gateway exited with code ${gx.code} signal ${gx.signal}${gx.killed ? ' (killed after 120 s)' : ''}`);
    await closeSim();
    await broker.child.stop(10_000);
    await tail.poll();
    const patientsEnrolledByGateway = (await countPatients(o.dataDir)) - enrolledBefore;

    log('sustained: reading the sealed store back');
    const readStart = Date.now();
    let unreadable = 0;
    let batches = 0;
    let lastReadLog = Date.now();
    for await (const b of readStore(o.dataDir, o.passphrase)) {
      batches++;
      if (!b.ok) {
        unreadable++;
        if (unreadable <= 5) log(`sustained: batch ${b.id} unreadable: ${b.reason}`);
        continue;
      }
      ledger.foundBatch(b.header.deviceId, b.header.stream, b.bodies, tail.durableAt.get(b.id));
      if (Date.now() - lastReadLog > 3000) {
        lastReadLog = Date.now();
        log(`sustained: read back ${batches} batches`);
      }
    }
    const readBackSeconds = round1((Date.now() - readStart) / 1000);
    const r = ledger.reconcile();
    log(`sustained: read back ${batches} batches (${r.found} readings) in ${readBackSeconds} s`);
    return {
      devices: o.devices,
      seconds: o.seconds,
      offeredMessagesPerSec: round1(sim.offeredRate),
      publishedMessagesPerSec: round1(st.published / o.seconds),
      deliveredMessagesPerSec: round1(r.found / o.seconds),
      samplesPerSec: round1(r.samples / o.seconds),
      p50LatencyMs: ledger.latency.percentile(50),
      p99LatencyMs: ledger.latency.percentile(99),
      maxLatencyMs: ledger.latency.count ? Math.round(ledger.latency.max) : null,
      steadyState: {
        fromSecond: steadyAfterS,
        readings: ledger.steadyLatency.count,
        p50LatencyMs: ledger.steadyLatency.percentile(50),
        p99LatencyMs: ledger.steadyLatency.percentile(99),
      },
      rssMb: rssMb === null ? null : round1(rssMb),
      rssAtEndMb: rssAtEndMb === null ? null : round1(rssAtEndMb),
      brokerRssMb: brokerRssMb === null ? null : round1(brokerRssMb),
      published: st.published,
      acked: ledger.acked,
      found: r.found,
      lost: r.lost,
      duplicates: r.duplicates,
      invented: r.invented,
      failedPublishes: ledger.failed,
      foundAfterFailedPublish: r.foundAfterFailedPublish,
      unreadableBatches: unreadable,
      batches,
      simLagMs: {
        p50: ledger.simLag.percentile(50),
        p99: ledger.simLag.percentile(99),
        max: ledger.simLag.count ? Math.round(ledger.simLag.max) : null,
      },
      publishingSeconds: round1((runEnded - started) / 1000),
      drainSeconds: round1(drainSeconds),
      gatewayDrained: drained,
      gatewayExit,
      cpuPercent,
      readBackSeconds,
      preEnrolled: o.preEnroll,
      patientsEnrolledByGateway,
    };
  } finally {
    await closeSim();
    await Promise.all([gateway?.stop(10_000), broker.child.stop(10_000)]);
  }
}
