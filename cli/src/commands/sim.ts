import type { Command } from 'commander';
import { createWriteStream, writeFileSync, type WriteStream } from 'node:fs';
import { readWfdbRecord, wfdbRecordInfo } from '@vitalgate/biosignal';
import { loadScenario, PROFILES, scenarioSchema, ScenarioRunner, Simulation, type Scenario } from '@vitalgate/device-sim';
import { positiveInt, positiveNumber } from '../options.js';
import { StatusLine } from '../status-line.js';

export function registerSim(program: Command): void {
  const sim = program
    .command('sim')
    .enablePositionalOptions()
    .description('simulated wearables publishing to an MQTT broker (QoS 1), with progress and a summary')
    .option('-n, --devices <n>', 'number of devices', positiveInt('--devices'), 10)
    .option('-d, --duration <seconds>', 'seconds of signal to send', positiveNumber('--duration'), 30)
    .option('-b, --broker <url>', 'broker URL', 'mqtt://127.0.0.1:1883')
    .option('--profile <name>', `device profile: ${Object.keys(PROFILES).join(', ')}`, 'mixed')
    .option('--encoding <enc>', 'payload encoding: json, cbor or mixed', 'cbor')
    .option('--devices-per-patient <n>', 'devices worn by each simulated patient', positiveInt('--devices-per-patient'), 1)
    .option('--seed <n>', 'seed of the signal models', positiveInt('--seed'), 1)
    .option('--username <u>', 'MQTT username')
    .option('--json', 'print the summary as JSON on stdout')
    .addHelpText('after', '\nProfiles:\n' + Object.values(PROFILES).map((p) => `  ${p.name.padEnd(12)} ${p.description}`).join('\n'))
    .action(async (o: { devices: number; duration: number; broker: string; profile: string; encoding: 'json' | 'cbor' | 'mixed'; devicesPerPatient: number; seed: number; username?: string; json?: boolean }) => {
      const status = new StatusLine();
      const sim = new Simulation({
        brokerUrl: o.broker, devices: o.devices, durationS: o.duration, profile: o.profile, encoding: o.encoding,
        devicesPerPatient: o.devicesPerPatient, seed: o.seed, username: o.username,
        password: process.env.VITALGATE_MQTT_PASSWORD,
      });
      await sim.connect((n) => status.update(`connecting ${n}/${o.devices}`, n === o.devices));
      const ticker = setInterval(() => {
        const s = sim.stats();
        status.update(`${s.elapsedS.toFixed(0)}/${o.duration}s  ${s.connected} connected  published ${s.published}  acked ${s.acked}  in flight ${s.inFlight}  failed ${s.failed}`);
      }, 500);
      const interrupt = () => void sim.stop();
      process.once('SIGINT', interrupt);
      await sim.run();
      clearInterval(ticker);
      const s = sim.stats();
      await sim.close();
      status.done();
      const summary = { ...s, profile: o.profile, offeredMessagesPerSec: sim.offeredRate, samplesPerSec: s.samples / Math.max(s.elapsedS, 1e-9) };
      process.stdout.write(o.json ? JSON.stringify(summary) + '\n'
        : `${s.devices} devices × ${s.elapsedS.toFixed(1)}s: published ${s.published}, acknowledged ${s.acked}, failed ${s.failed}, ${s.samples} samples (${summary.samplesPerSec.toFixed(0)}/s)\n`);
      if (s.failed > 0) process.exitCode = 1;
    });
  registerScenarioCommands(sim);
}

/** Shared by `sim run` and `sim replay`: prepare, run with a live line, write the report and sent log. */
async function runScenario(scenario: Scenario, o: { broker?: string; report?: string; sentLog?: string; json?: boolean; username?: string }): Promise<void> {
  const status = new StatusLine();
  const runner = new ScenarioRunner(scenario, { brokerUrl: o.broker, mqttUsername: o.username, mqttPassword: process.env.VITALGATE_MQTT_PASSWORD });
  let sent: WriteStream | undefined;
  if (o.sentLog) {
    const stream = createWriteStream(o.sentLog, { mode: 0o600 });
    sent = stream;
    runner.on('delivered', (r) => stream.write(JSON.stringify({ transport: r.transport, patientId: r.patientId, deviceId: r.deviceId, stream: r.stream, ...r.body }) + '\n'));
  }
  try {
    await runner.prepare((m) => status.update(m, true));
    if (runner.bleSimUrl) process.stderr.write(`BLE-sim devices are reachable at ${runner.bleSimUrl} (gateway: --ble ${runner.bleSimUrl}@<patient>)\n`);
    const ticker = setInterval(() => {
      const t = runner.report().totals;
      status.update(`${scenario.name}: generated ${t.generated}  delivered ${t.delivered}  dropped ${t.dropped}  corrupted ${t.corrupted}  undeliverable ${t.undeliverable}  failed ${t.failed}  dead ${t.deadDevices}`);
    }, 500);
    const interrupt = () => void runner.stop();
    process.once('SIGINT', interrupt);
    await runner.run();
    clearInterval(ticker);
    process.off('SIGINT', interrupt);
    status.done();
  } finally {
    await runner.close();
    if (sent) await new Promise<void>((r) => sent!.end(r));
  }
  const report = runner.report();
  if (o.report) writeFileSync(o.report, JSON.stringify(report, null, 2) + '\n');
  if (o.json) process.stdout.write(JSON.stringify(report) + '\n');
  else {
    const t = report.totals;
    process.stdout.write(`${report.scenario}: ${t.devices} devices, ${report.durationS}s — generated ${t.generated}, delivered ${t.delivered}, dropped ${t.dropped}, corrupted ${t.corrupted}, undeliverable ${t.undeliverable}, failed ${t.failed}${t.deadDevices ? `, ${t.deadDevices} batteries died` : ''}\n`);
  }
  if (report.totals.failed > 0) process.exitCode = 1;
}

export function registerScenarioCommands(sim: Command): void {
  sim
    .command('run <scenario.yaml>')
    .description('run a scenario file: device mix, transports (mqtt, serial, ble-sim), duration and faults')
    .option('-b, --broker <url>', 'broker URL for MQTT devices (overrides the scenario)')
    .option('--report <file>', 'write the machine-readable report (what was generated, delivered, dropped, corrupted) here')
    .option('--sent-log <file>', 'write every delivered reading, as the receiver decodes it, as JSON lines')
    .option('--json', 'print the report as JSON on stdout')
    .addHelpText('after', `\nScenario example:\n\n${SCENARIO_EXAMPLE}`)
    .action(async (file: string, o: { broker?: string; report?: string; sentLog?: string; json?: boolean }) => {
      await runScenario(await loadScenario(file), o);
    });

  sim
    .command('replay <record.hea>')
    .description('stream a PhysioNet WFDB record as a live device: an ECG lead as ecg, PLETH as ppg, beat annotations as hr')
    .option('--speed <x>', 'playback speed (timestamps stay in record time)', positiveNumber('--speed'), 1)
    .option('--loop', 'start over at the end')
    .option('-d, --duration <seconds>', 'stop after this many seconds (default: the record, or forever with --loop)', positiveNumber('--duration'))
    .option('--transport <t>', 'mqtt, serial or ble-sim', 'mqtt')
    .option('--port <path>', 'serial device path (transport serial)')
    .option('-b, --broker <url>', 'broker URL (transport mqtt)', 'mqtt://127.0.0.1:1883')
    .option('--device <id>', 'device id (default: derived from the record name)')
    .option('--patient <id>', 'patient id', 'patient-replay')
    .option('--lead <name>', 'which ECG signal to send (default: the first ECG lead)')
    .option('--sent-log <file>', 'write every delivered reading as JSON lines')
    .option('--json', 'print the report as JSON on stdout')
    .action(async (hea: string, o: { speed: number; loop?: boolean; duration?: number; transport: 'mqtt' | 'serial' | 'ble-sim'; port?: string; broker: string; device?: string; patient: string; lead?: string; sentLog?: string; json?: boolean }) => {
      if (!['mqtt', 'serial', 'ble-sim'].includes(o.transport)) throw new Error('--transport must be mqtt, serial or ble-sim');
      const rec = wfdbRecordInfo(await readWfdbRecord(hea));
      const recordS = rec.samples / rec.fs / o.speed;
      const durationS = o.duration ?? (o.loop ? 7 * 24 * 3600 : Math.ceil(recordS));
      const deviceId = o.device ?? `replay-${rec.record.replace(/[^A-Za-z0-9._-]/g, '').slice(0, 40) || 'record'}`;
      const scenario = scenarioSchema.parse({
        name: `replay ${rec.record}`, durationS,
        devices: [{ id: deviceId, patient: o.patient, replay: hea, lead: o.lead, speed: o.speed, loop: o.loop ?? false, transport: o.transport, ...(o.port ? { port: o.port } : {}) }],
      });
      await runScenario(scenario, { broker: o.broker, sentLog: o.sentLog, json: o.json });
    });
}

const SCENARIO_EXAMPLE = `name: ward-3-night
durationS: 600
broker: mqtt://127.0.0.1:1883
devices:
  - { count: 20, profile: mixed, transport: mqtt, encoding: cbor }
  - { id: strap-1, patient: patient-0007, profile: chest-strap, transport: serial, port: /dev/ttyUSB0, clockSkewMs: 90000 }
  - { id: oxi-1, patient: patient-0007, profile: pulse-ox, transport: ble-sim }
  - { id: mitbih-100, patient: patient-0100, replay: ../shared/data/physionet/100.hea, speed: 1 }
faults:
  - { kind: drop, probability: 0.02 }                    # readings lost before they leave the device
  - { kind: corrupt, devices: [strap-1], probability: 0.05 }
  - { kind: disconnect, devices: [sim-g1-0003], at: 60, for: 20 }   # buffered, sent on reconnect
  - { kind: burst, devices: [oxi-1], at: 120, for: 10 }
  - { kind: clock-skew, devices: [strap-1], at: 300, skewMs: 2000 }
  - { kind: battery-drain, devices: [sim-g1-0001], percentPerMinute: 20 }
  - { kind: lead-off, devices: [strap-1], at: 90, for: 30 }      # no ECG; status says leadOff`;
