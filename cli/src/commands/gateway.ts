import { writeFileSync, rmSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import pino from 'pino';
import { Gateway } from '@vitalgate/edge-gateway';
import { DEFAULT_DATA_DIR, positiveInt, positiveNumber } from '../options.js';
import { resolvePassphrase } from '../passphrase.js';

export function registerGateway(program: Command): void {
  program
    .command('gateway')
    .description('run the edge gateway against a broker until Ctrl-C (SIGUSR2 or `vitalgate epoch rotate` rotates the epoch)')
    .option('-b, --broker <url>', 'broker URL', 'mqtt://127.0.0.1:1883')
    .option('--data-dir <dir>', 'gateway data directory', DEFAULT_DATA_DIR)
    .option('--passphrase-file <file>', 'file holding the gateway passphrase (or set VITALGATE_PASSPHRASE_FILE)')
    .option('--patient <id...>', 'serve only these patients (default: all)')
    .option('--client-id <id>', 'MQTT client id; the broker keeps this session across restarts', 'vitalgate-gateway')
    .option('--username <u>', 'MQTT username (password from VITALGATE_MQTT_PASSWORD)')
    .option('--batch-window-ms <ms>', 'close a batch this long after its first reading', positiveInt('--batch-window-ms'), 2000)
    .option('--epoch-minutes <m>', 'epoch key rotation period', positiveNumber('--epoch-minutes'), 15)
    .option('--log-level <level>', 'pino log level', 'info')
    .action(async (o: { broker: string; dataDir: string; passphraseFile?: string; patient?: string[]; clientId: string; username?: string; batchWindowMs: number; epochMinutes: number; logLevel: string }) => {
      const log = pino({ level: o.logLevel, name: 'gateway' }, pino.destination(2));
      const { passphrase } = resolvePassphrase(o.passphraseFile, (m) => log.warn(m));
      const gw = await Gateway.start({
        dataDir: o.dataDir, passphrase, brokerUrl: o.broker, clientId: o.clientId, patients: o.patient,
        mqttUsername: o.username, mqttPassword: process.env.VITALGATE_MQTT_PASSWORD,
        batchWindowMs: o.batchWindowMs, epochPeriodMs: o.epochMinutes * 60_000, logger: log,
      });
      const pidFile = join(o.dataDir, 'gateway.pid');
      writeFileSync(pidFile, String(process.pid));
      process.on('SIGUSR2', () => void gw.rotateEpoch().catch((e: Error) => log.error({ err: e.message }, 'epoch rotation failed')));
      process.stdout.write(JSON.stringify({ event: 'ready', pid: process.pid }) + '\n');
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await gw.stop();
      if (readFileSync(pidFile, 'utf8') === String(process.pid)) rmSync(pidFile, { force: true });
    });

  program
    .command('epoch')
    .description('epoch key management')
    .command('rotate')
    .description('tell the gateway running on a data directory to start a new epoch now')
    .option('--data-dir <dir>', 'gateway data directory', DEFAULT_DATA_DIR)
    .action((o: { dataDir: string }) => {
      let pid: number;
      try {
        pid = Number(readFileSync(join(o.dataDir, 'gateway.pid'), 'utf8'));
      } catch {
        throw new Error(`no gateway is running on ${o.dataDir} (no gateway.pid)`);
      }
      try {
        process.kill(pid, 'SIGUSR2');
      } catch {
        throw new Error(`gateway pid ${pid} from ${o.dataDir}/gateway.pid is not running`);
      }
      process.stdout.write(`asked gateway ${pid} to rotate its epoch; see its log for the new epoch\n`);
    });
}
