#!/usr/bin/env node
/**
 * `npm run bench`: sustained-load and saturation measurements of the broker and the edge gateway,
 * each running as its own process from the built CLI, as in production. The scenarios are in
 * scenarios/, what they share (child processes, launchers, the CPU meter, the ledger, flags, the
 * printer) in harness/; harness/args.ts has the flags.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { HELP, parseArgs, UsageError, type BenchArgs } from './harness/args.js';
import { Child, CLI_MAIN } from './harness/child.js';
import { human, type Output } from './harness/report.js';
import { runDecode, type DecodeResult } from './scenarios/decode.js';
import { runSustained, type SustainedResult } from './scenarios/sustained.js';
import { runSaturationBare, runSaturationWithGateway, type BareSaturation, type GatewaySaturation } from './scenarios/saturation.js';
import { gatewayServesMqtt } from './harness/launchers.js';
import { runBrokerComparison, type BrokerComparison } from './scenarios/broker-compare.js';
import { runCloud, type CloudResult } from './scenarios/cloud-upload.js';
import { runCareTeam, type CareTeamResult } from './scenarios/care-team.js';
import { runDashboard, type DashboardResult } from './scenarios/dashboard.js';
import { runDashboardHistory, type HistoryResult } from './scenarios/dashboard-history.js';
import { runFhirExport, type FhirExportBenchResult } from './scenarios/fhir-export.js';
import { capacityHuman, runCapacity, type CapacityResult } from './scenarios/capacity.js';

const t0 = Date.now();
const log = (msg: string): void => {
  process.stderr.write(`[bench +${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}\n`);
};

// `npm run bench -- read-filters …`: `vitalgate open` on many devices, with and without filters (scenarios/read-filters.ts).
if (process.argv[2] === 'read-filters') process.exit(await (await import('./scenarios/read-filters.js')).main(process.argv.slice(3)).then(() => 0, (e: Error) => (process.stderr.write(`bench read-filters: ${e.message}\n`), 1)));

let args: BenchArgs;
try {
  args = parseArgs(process.argv.slice(2));
} catch (e) {
  if (e instanceof UsageError) {
    process.stderr.write(`bench: ${e.message}\n\n${HELP}`);
    process.exit(1);
  }
  throw e;
}
if (args.help) {
  process.stdout.write(HELP);
  process.exit(0);
}

const cleanups: Array<() => Promise<void>> = [];
let tempRoot: string | undefined;

async function cleanup(): Promise<void> {
  for (const f of cleanups.splice(0).reverse()) await f().catch(() => undefined);
  await Child.stopAll(5000);
  if (tempRoot && !args.keep) await rm(tempRoot, { recursive: true, force: true }).catch(() => undefined);
  else if (tempRoot) log(`kept ${tempRoot}`);
}

// Children must never outlive the bench: a last synchronous SIGKILL on any exit path.
process.on('exit', () => Child.killAll('SIGKILL'));
let interrupted = false;
const onSignal = (sig: NodeJS.Signals) => {
  if (interrupted) {
    Child.killAll('SIGKILL');
    process.exit(130);
  }
  interrupted = true;
  log(`${sig}: stopping child processes and removing temporary files`);
  setTimeout(() => process.exit(130), 15_000).unref();
  void cleanup().finally(() => process.exit(130));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

async function setUp(): Promise<{ passphrase: string; passphraseFile: string; onCleanup: (f: () => Promise<void>) => void; root: string }> {
  if (!existsSync(CLI_MAIN)) throw new Error(`${CLI_MAIN} does not exist: build first (npx tsc -b)`);
  const root = await mkdtemp(join(tmpdir(), 'vitalgate-bench-'));
  tempRoot = root;
  const passphrase = randomBytes(24).toString('hex');
  const passphraseFile = join(root, 'passphrase');
  await writeFile(passphraseFile, passphrase + '\n', { mode: 0o600 });
  log(`temporary directory ${root}`);
  return { passphrase, passphraseFile, onCleanup: (f: () => Promise<void>) => void cleanups.push(f), root };
}

/** --capacity: only the capacity search (scenarios/capacity.ts). */
async function capacity(): Promise<CapacityResult> {
  const { passphrase, passphraseFile, onCleanup, root } = await setUp();
  log(`capacity: modes ${args.capacityBrokers.join(', ')}; ${args.capacityMin}..${args.capacityMax} devices × ${args.capacitySeconds} s per step${args.capacityOverload ? ', then 1.5× and 2× each capacity' : ''}${args.repeat ? `, then ${args.repeat} runs at ${args.repeatAt}` : ''}`);
  const r = await runCapacity({
    modes: args.capacityBrokers, modesExplicit: args.capacityBrokersExplicit, seconds: args.capacitySeconds, min: args.capacityMin, max: args.capacityMax,
    ...(args.capacityResolution !== null && { resolution: args.capacityResolution }), window: args.capacityWindow, overload: args.capacityOverload,
    repeatAt: args.repeatAt, repeat: args.repeat, dir: join(root, 'capacity'), passphrase, passphraseFile, keep: args.keep, log, onCleanup,
  });
  r.benchSeconds = Math.round((Date.now() - t0) / 100) / 10;
  return r;
}

async function main(): Promise<Output> {
  const { passphrase, passphraseFile, onCleanup, root } = await setUp();

  let decode: DecodeResult | null = null;
  if (!args.skipDecode) {
    log('decode: UART frames, GATT notifications, JSON and CBOR payloads (1.5 s each, one core)');
    decode = runDecode();
  }

  let sustained: SustainedResult | null = null;
  if (!args.skipSustained) {
    log(`sustained: ${args.devices} devices × ${args.seconds} s (profile mixed, CBOR, QoS 1)`);
    sustained = await runSustained({
      devices: args.devices, seconds: args.seconds, dataDir: join(root, 'sustained'), passphrase, passphraseFile, preEnroll: args.preEnroll, log, onCleanup,
    });
  }

  let saturation: Output['saturation'] = null;
  if (!args.skipSaturation) {
    const so = { seconds: args.saturationSeconds, connections: args.saturationConnections, window: args.saturationWindow, log, onCleanup };
    log(`saturation: ${so.connections} connections × window ${so.window} for ${so.seconds} s, (a) with the gateway`);
    const withGateway = await runSaturationWithGateway({ ...so, dataDir: join(root, 'saturation'), passphrase, passphraseFile, preEnroll: args.preEnroll });
    let withGatewayAckOnArrival: GatewaySaturation | null = null;
    if (args.ackCompare) {
      log(`saturation: (a') with the gateway acknowledging on arrival (the old policy), to measure what acknowledging once durable costs`);
      withGatewayAckOnArrival = await runSaturationWithGateway({ ...so, dataDir: join(root, 'saturation-ack-on-arrival'), passphrase, passphraseFile, preEnroll: args.preEnroll, ackOnArrival: true });
    }
    let inProcess: GatewaySaturation | null = null;
    if (gatewayServesMqtt()) {
      log(`saturation: (d) with the gateway hosting the broker (--serve-mqtt), the edge box's deployment, window ${args.saturationWindowInProcess} (it acknowledges once durable)`);
      inProcess = await runSaturationWithGateway({ ...so, window: args.saturationWindowInProcess, dataDir: join(root, 'saturation-in-process'), passphrase, passphraseFile, preEnroll: args.preEnroll, inProcess: true });
    }
    log(`saturation: (b) with a bare subscriber (clean session)`);
    const bareSubscriber = await runSaturationBare({ ...so, persistent: false });
    let bareInProcess: BareSaturation | null = null;
    if (inProcess) {
      log(`saturation: (e) a bare counter hosting the broker, acknowledging on arrival, at (d)'s window ${args.saturationWindowInProcess}: the ceiling for (d)`);
      bareInProcess = await runSaturationBare({ ...so, window: args.saturationWindowInProcess, persistent: false, inProcess: true, phase: 'saturation/bare-in-process', prefix: 'satbarein' });
    }
    let bareSubscriberPersistentSession: BareSaturation | null = null;
    if (args.persistentCeiling) {
      log(`saturation: (c) with a bare subscriber on a persistent session, as the gateway connects`);
      bareSubscriberPersistentSession = await runSaturationBare({ ...so, persistent: true });
    }
    const ackCost = withGatewayAckOnArrival ? {
      durableReadingsPerSec: withGateway.maxMessagesPerSec,
      arrivalReadingsPerSec: withGatewayAckOnArrival.maxMessagesPerSec,
      ratio: withGatewayAckOnArrival.maxMessagesPerSec > 0 ? Math.round((withGateway.maxMessagesPerSec / withGatewayAckOnArrival.maxMessagesPerSec) * 1000) / 1000 : null,
      durableP99Ms: withGateway.p99LatencyMs,
      arrivalP99Ms: withGatewayAckOnArrival.p99LatencyMs,
    } : null;
    saturation = { seconds: so.seconds, connections: so.connections, window: so.window, withGateway, bareSubscriber, bareSubscriberPersistentSession, withGatewayAckOnArrival, ackCost, inProcess, windowInProcess: args.saturationWindowInProcess, bareInProcess };
  }

  let broker: BrokerComparison | null = null;
  if (!args.skipBroker) {
    log(`broker: ${args.saturationConnections} connections × window ${args.saturationWindow} for ${args.saturationSeconds} s against ours (identity off, on) and Mosquitto (anonymous, password + ACL)`);
    broker = await runBrokerComparison({ seconds: args.saturationSeconds, connections: args.saturationConnections, window: args.saturationWindow, dir: join(root, 'broker'), log, onCleanup });
  }

  let cloud: CloudResult | null = null;
  if (!args.skipCloud) {
    log(`cloud: ${args.cloudDevices} devices, ingest down ${args.cloudOutageSeconds} s, then the drain; upload throughput to local storage and S3 against a bare S3 client; catalog writes`);
    cloud = await runCloud({ devices: args.cloudDevices, outageSeconds: args.cloudOutageSeconds, dir: join(root, 'cloud'), passphraseFile, log, onCleanup });
  }

  let careTeams: CareTeamResult | null = null;
  if (!args.skipCare) {
    log('care teams: key envelopes, clinician API latency cold and cached, revocation to refusal');
    careTeams = await runCareTeam({ dir: join(root, 'care'), log, onCleanup });
  }

  let dashboard: DashboardResult | null = null;
  if (!args.skipDashboard) {
    log(`dashboard: Chromium against \`vitalgate start --devices ${args.dashboardDevices}\`: the patients view, then live latency for ${args.dashboardSeconds} s`);
    dashboard = await runDashboard({ devices: args.dashboardDevices, seconds: args.dashboardSeconds, dir: join(root, 'dashboard'), log, onCleanup });
  }

  let dashboardHistory: HistoryResult | null = null;
  if (!args.skipHistory) {
    log(`dashboard history: Chromium, 1 h of 250 Hz ECG and 7 d of HR + SpO2 seeded into the gateway (epochs of ${args.historyEpochMinutes} min), ${args.historyRuns} cold runs of each view`);
    dashboardHistory = await runDashboardHistory({ dir: join(root, 'history'), passphraseFile, runs: args.historyRuns, epochMinutes: args.historyEpochMinutes, log, onCleanup });
  }

  let fhirExport: FhirExportBenchResult | null = null;
  if (!args.skipFhir) {
    log('fhir: 1 h of the mixed profile for one patient, sealed, then `vitalgate export fhir` timed');
    fhirExport = await runFhirExport({ dir: join(root, 'fhir'), passphrase, passphraseFile, log });
  }

  const s = sustained;
  const g = saturation?.withGateway;
  const b = saturation?.bareSubscriber;
  const c = saturation?.bareSubscriberPersistentSession;
  const ratioOf = (x: number | undefined, y: number | undefined) => (x !== undefined && y !== undefined && y > 0 ? Math.round((x / y) * 1000) / 1000 : null);
  const ratio = ratioOf(g?.maxMessagesPerSec, b?.ceilingMessagesPerSec);
  const ratioInProcess = ratioOf(saturation?.inProcess?.maxMessagesPerSec, saturation?.bareInProcess?.ceilingMessagesPerSec);
  return {
    devices: args.devices,
    seconds: args.seconds,
    offeredMessagesPerSec: s?.offeredMessagesPerSec ?? null,
    deliveredMessagesPerSec: s?.deliveredMessagesPerSec ?? null,
    samplesPerSec: s?.samplesPerSec ?? null,
    p50LatencyMs: s?.p50LatencyMs ?? null,
    p99LatencyMs: s?.p99LatencyMs ?? null,
    rssMb: s?.rssMb ?? null,
    brokerRssMb: s?.brokerRssMb ?? null,
    lost: s?.lost ?? null,
    duplicates: s?.duplicates ?? null,
    invented: s ? s.invented + s.unreadableBatches : null,
    failedPublishes: s?.failedPublishes ?? null,
    simLagMs: s?.simLagMs ?? null,
    preEnrolled: args.preEnroll,
    maxMessagesPerSec: g?.maxMessagesPerSec ?? null,
    ceilingMessagesPerSec: b?.ceilingMessagesPerSec ?? null,
    ratio,
    persistentSessionCeilingMessagesPerSec: c?.ceilingMessagesPerSec ?? null,
    ratioVsPersistentSession: ratioOf(g?.maxMessagesPerSec, c?.ceilingMessagesPerSec),
    ratioInProcess,
    saturationLost: g?.lost ?? null,
    decode,
    broker,
    cloud,
    careTeams,
    dashboard,
    dashboardHistory,
    fhirExport,
    targets: {
      sustainedNoLoss: s ? s.lost === 0 && s.duplicates === 0 && s.invented === 0 && s.unreadableBatches === 0 && s.failedPublishes === 0 && s.acked > 0 : null,
      p99WithinWindowPlus500: s ? s.p99LatencyMs !== null && s.p99LatencyMs <= 2500 : null,
      ratioAtLeast0_8: ratio === null ? null : ratio >= 0.8,
      ratioAtLeast0_9: ratio === null ? null : ratio >= 0.9,
      ratioInProcessAtLeast0_9: ratioInProcess === null ? null : ratioInProcess >= 0.9,
      cloudDrainUnder30s: cloud ? cloud.targets.drainUnder30s : null,
      cloudUploadWithin25Pct: cloud ? cloud.targets.ingestWithin25PercentOfBareS3 : null,
      cloudNothingLost: cloud ? cloud.targets.nothingLost : null,
      careRevocationUnder2s: careTeams ? careTeams.targets.revocationUnder2s : null,
      dashboardPatientsUnder1s: dashboard ? dashboard.targets.patientsUnder1s : null,
      dashboardLiveP95: dashboard ? dashboard.targets.liveP95WithinBound : null,
      dashboardHistoryEcg1h: dashboardHistory ? dashboardHistory.targets.ecg1hUnder1500ms : null,
      dashboardHistory7d: dashboardHistory ? dashboardHistory.targets.vitals7dUnder1500ms : null,
      fhirExportUnder5s: fhirExport ? fhirExport.targets.commandUnder5s : null,
    },
    sustained,
    saturation,
    benchSeconds: Math.round((Date.now() - t0) / 100) / 10,
  };
}

let code = 0;
try {
  if (args.capacity) {
    const out = await capacity();
    process.stdout.write(args.json ? JSON.stringify(out) + '\n' : capacityHuman(out));
    // A mode that was asked for and could not run at all is a harness error; missed targets are not.
    if (out.errors.length) {
      log(`capacity: ${out.errors.join('; ')}`);
      code = 1;
    }
  } else {
    const out = await main();
    process.stdout.write(args.json ? JSON.stringify(out) + '\n' : human(out));
  }
} catch (e) {
  if (!interrupted) {
    log(`error: ${(e as Error).stack ?? (e as Error).message}`);
    code = 1;
  }
} finally {
  if (!interrupted) await cleanup();
}
if (!interrupted) process.exit(code);
