import type { Command } from 'commander';
import { PROFILES, Simulation } from '@vitalgate/device-sim';
import { positiveInt, positiveNumber } from '../options.js';
import { StatusLine } from '../status-line.js';

export function registerSim(program: Command): void {
  program
    .command('sim')
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
}
