import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import pino from 'pino';
import { Gateway, dataDirLayout, isLockLive, readLock } from '@vitalgate/edge-gateway';
import { InfluxTelemetry } from '@vitalgate/ingest';
import { isLoopbackHost, startBroker, type RunningBroker } from '@vitalgate/broker';
import { redactUrl } from '@vitalgate/protocol';
import { GATEWAY_TELEMETRY_FIELDS, startStatusReports } from './gateway-status.js';
import { DEFAULT_DATA_DIR, byteSize, nonNegativeNumber, positiveInt, positiveNumber } from '../options.js';
import { ALLOW_DEMO_OPTION, keystorePassphrase } from '../passphrase.js';
import { loadConfig } from '../config/load.js';
import { GATEWAY_CONFIG_EXAMPLE, gatewayConfigSchema } from '../config/gateway-config.js';

function readPemFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read the MQTT ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** `[host:]port` of --serve-mqtt; the host defaults to loopback. */
function hostPort(v: string): { host: string; port: number } {
  const i = v.lastIndexOf(':');
  const host = i >= 0 ? v.slice(0, i).replace(/^\[|\]$/g, '') : '127.0.0.1';
  const p = Number(i >= 0 ? v.slice(i + 1) : v);
  if (!host || !Number.isInteger(p) || p < 0 || p > 65535) throw new InvalidArgumentError(`expected [host:]port, e.g. 1883 or 127.0.0.1:0 (got ${JSON.stringify(v)})`);
  return { host, port: p };
}

function mqttTlsFiles(ca?: string, cert?: string, key?: string): { ca?: Buffer; cert?: Buffer; key?: Buffer } {
  if (!!cert !== !!key) throw new Error('--mqtt-cert and --mqtt-key go together');
  return {
    ...(ca && { ca: readPemFile(ca, 'CA') }),
    ...(cert && { cert: readPemFile(cert, 'client certificate') }),
    ...(key && { key: readPemFile(key, 'client key') }),
  };
}

export function registerGateway(program: Command): void {
  program
    .command('gateway')
    .description('run the edge gateway until Ctrl-C: MQTT, serial and BLE sources in, sealed batches out (SIGUSR2 or `vitalgate epoch rotate` rotates the epoch)')
    .option('-c, --config <file>', 'YAML config file (see below); flags override it')
    .option('-b, --broker <url>', 'broker URL (default mqtt://127.0.0.1:1883; "none" for no MQTT)')
    .option('--data-dir <dir>', `gateway data directory (default ${DEFAULT_DATA_DIR})`)
    .option('--passphrase-file <file>', 'file holding the gateway passphrase (or set VITALGATE_PASSPHRASE_FILE)')
    .option(...ALLOW_DEMO_OPTION)
    .option('--patient <id...>', 'serve only these patients (default: all)')
    .option('--serial <path@patient...>', 'read UART firmware frames from a serial port, e.g. /dev/ttyUSB0@patient-0001')
    .option('--ble <radio@patient=addrs...>', "take BLE health devices worn by a patient: noble@patient-0001=C8:4B:00:11:22:33 (a real radio needs the patient's device addresses; others are ignored and counted), or ble-sim://127.0.0.1:7001@patient-0001[=addr,...]")
    .option('--serve-mqtt <[host:]port>', 'run the MQTT broker in this process and take device readings from it directly (no second MQTT hop); a device gets its PUBACK once its reading is durable. Loopback only (identity needs `vitalgate broker --registry` and a separate gateway); not with --broker. Port 0 picks a free one', hostPort)
    .option('--client-id <id>', 'MQTT client id; the broker keeps this session across restarts')
    .option('--username <u>', 'MQTT username (password from VITALGATE_MQTT_PASSWORD)')
    .option('--mqtt-ca <file>', 'for mqtts:// or wss:// brokers: PEM CA that signed the broker certificate')
    .option('--mqtt-cert <file>', 'PEM client certificate (CN = this gateway\'s id), for brokers with client certificates')
    .option('--mqtt-key <file>', 'PEM key of --mqtt-cert')
    .option('--max-unacked <n>', 'most QoS 1 readings held unacknowledged until their batch is durable (default 50000, at most 60000)', positiveInt('--max-unacked'))
    .option('--ack-on-arrival', 'UNSAFE, for measurement only: acknowledge QoS 1 readings on arrival instead of once durable (a crash then loses up to a batch window)')
    .option('--batch-window-ms <ms>', 'close a batch this long after its first reading (default 2000)', positiveInt('--batch-window-ms'))
    .option('--no-summaries', 'do not seal per-minute and per-hour summaries beside the readings (the dashboard then has only readings, and long ranges load slowly)')
    .option('--epoch-minutes <m>', 'epoch key rotation period (default 15)', positiveNumber('--epoch-minutes'))
    .option('--chain-url <url>', 'anchor batch roots on this EVM JSON-RPC endpoint (with --deployment)')
    .option('--deployment <file>', 'deployment file written by `vitalgate chain up` (default <data-dir>/chain/deployment.json)')
    .option('--chain-admin-key-file <file>', 'development chains only: a Registry admin key, so the gateway registers itself and its patients')
    .option('--anchor-seconds <s>', 'anchor period (default 30)', positiveNumber('--anchor-seconds'))
    .option('--ingest <url>', 'upload every sealed batch to this ingest service (needs --chain-url: requests are signed with the gateway\'s registered account); what ingest has not confirmed waits on disk and is retried')
    .option('--spool-quota <size>', 'with --ingest: ciphertext waiting for upload above which the gateway raises its spool alarm (default 10GiB); it keeps sealing locally and drops nothing', byteSize('--spool-quota'))
    .option('--status-seconds <s>', 'log a status line (readings/s, batches, upload spool depth, oldest entry, upload rate) this often (default 10; 0 for none)', nonNegativeNumber('--status-seconds', 'a number of seconds'))
    .addOption(new Option('--influx <url>', 'also write the status figures (counts, sizes, ages: never a reading) to this InfluxDB 1.x, database "vitalgate_telemetry"').env('INFLUX_URL'))
    .option('--log-level <level>', 'pino log level (default info)')
    .addHelpText('after', `\nA URL with a password belongs in INFLUX_URL (or INFLUX_USERNAME and INFLUX_PASSWORD), not on the\ncommand line, where the process list shows it.\n\nConfig file example:\n\n${GATEWAY_CONFIG_EXAMPLE}`)
    .action(async (o: { config?: string; broker?: string; dataDir?: string; passphraseFile?: string; allowDemoPassphrase?: boolean; patient?: string[]; serial?: string[]; ble?: string[]; clientId?: string; username?: string; mqttCa?: string; mqttCert?: string; mqttKey?: string; batchWindowMs?: number; summaries?: boolean; maxUnacked?: number; ackOnArrival?: boolean; epochMinutes?: number; logLevel?: string; chainUrl?: string; deployment?: string; chainAdminKeyFile?: string; anchorSeconds?: number; ingest?: string; spoolQuota?: number; statusSeconds?: number; influx?: string; serveMqtt?: { host: string; port: number } }) => {
      const cfg = o.config ? loadConfig(o.config, gatewayConfigSchema) : gatewayConfigSchema.parse({});
      if (o.ingest && !o.chainUrl) throw new Error('--ingest needs --chain-url (and --deployment): ingest takes only requests signed by a gateway registered on chain');
      if (o.ingest && !/^https?:\/\//.test(o.ingest)) throw new Error(`--ingest ${redactUrl(o.ingest)}: expected an http:// or https:// URL`);
      const at = (flag: string, v: string) => {
        const i = v.lastIndexOf('@');
        if (i <= 0 || i === v.length - 1) throw new Error(`${flag} ${v}: expected SOURCE@PATIENT`);
        return [v.slice(0, i), v.slice(i + 1)] as const;
      };
      const serial = [...cfg.serial, ...(o.serial ?? []).map((v) => { const [path, patient] = at('--serial', v); return { path, patient, baudRate: 115200 }; })];
      const ble = [...cfg.ble, ...(o.ble ?? []).map((v) => {
        // RADIO@PATIENT[=ADDR,ADDR…]: the addresses are the patient's own peripherals.
        const eq = v.indexOf('=', v.lastIndexOf('@'));
        const [radio, patient] = at('--ble', eq > 0 ? v.slice(0, eq) : v);
        const devices = eq > 0 ? v.slice(eq + 1).split(',').map((d) => d.trim()).filter(Boolean) : undefined;
        return { radio, patient, ...(devices?.length && { devices }) };
      })];
      if (o.serveMqtt && o.broker !== undefined && o.broker !== 'none') throw new Error('--serve-mqtt and --broker do not go together: with --serve-mqtt the broker runs in this process');
      if (o.serveMqtt && !isLoopbackHost(o.serveMqtt.host)) throw new Error(`--serve-mqtt ${o.serveMqtt.host}: the in-process broker has no identity, so it listens on loopback only (for devices on a network, run \`vitalgate broker --registry\` and a gateway with --broker)`);
      const brokerUrl = o.broker ?? cfg.mqtt?.url ?? 'mqtt://127.0.0.1:1883';
      const useMqtt = !o.serveMqtt && brokerUrl !== 'none' && cfg.mqtt?.enabled !== false;
      const dataDir = o.dataDir ?? cfg.dataDir ?? DEFAULT_DATA_DIR;
      const log = pino({ level: o.logLevel ?? cfg.logLevel ?? 'info', name: 'gateway' }, pino.destination(2));
      const { passphrase } = await keystorePassphrase({ passphraseFile: o.passphraseFile ?? cfg.passphraseFile, allowDemo: o.allowDemoPassphrase, keysDir: dataDirLayout(dataDir).keys, warn: (m) => log.warn(m) });
      const gw = await Gateway.start({
        dataDir, passphrase,
        brokerUrl: useMqtt ? brokerUrl : undefined,
        clientId: o.clientId ?? cfg.mqtt?.clientId ?? 'vitalgate-gateway',
        patients: o.patient ?? cfg.patients,
        mqttUsername: o.username ?? cfg.mqtt?.username, mqttPassword: process.env.VITALGATE_MQTT_PASSWORD,
        mqttTls: mqttTlsFiles(o.mqttCa ?? cfg.mqtt?.caFile, o.mqttCert ?? cfg.mqtt?.certFile, o.mqttKey ?? cfg.mqtt?.keyFile),
        serial: serial.map((s) => ({ path: s.path, patientId: s.patient, baudRate: s.baudRate })),
        ble: ble.map((b) => ({ radio: b.radio, patientId: b.patient, ...(b.devices && { devices: b.devices }) })),
        batchWindowMs: o.batchWindowMs ?? cfg.batchWindowMs,
        summaries: o.summaries !== false,
        maxUnacked: o.maxUnacked,
        ackPolicy: o.ackOnArrival ? 'arrival' : 'durable',
        ...(o.chainUrl ? { chain: {
          url: o.chainUrl,
          deploymentFile: o.deployment ?? join(dataDir, 'chain', 'deployment.json'),
          adminKey: o.chainAdminKeyFile ? readFileSync(o.chainAdminKeyFile, 'utf8').trim() : undefined,
          anchorPeriodMs: (o.anchorSeconds ?? 30) * 1000,
        } } : {}),
        ...(o.ingest ? { ingest: { url: o.ingest, ...(o.spoolQuota !== undefined && { quotaBytes: o.spoolQuota }) } } : {}),
        lockPurpose: 'gateway',
        epochPeriodMs: (o.epochMinutes ?? cfg.epochMinutes ?? 15) * 60_000,
        logger: log,
      });
      let broker: RunningBroker | undefined;
      if (o.serveMqtt) {
        const local = gw.openLocalIntake(o.maxUnacked);
        try {
          broker = await startBroker({ host: o.serveMqtt.host, port: o.serveMqtt.port, logger: log.child({ name: 'broker' }), localDelivery: { consumer: local, accepts: (t) => local.accepts(t) } });
        } catch (e) {
          await gw.stop();
          throw e;
        }
        log.info({ url: broker.url }, 'broker in this process: devices publish here, readings go to the gateway directly');
      }
      process.on('SIGUSR2', () => void gw.rotateEpoch().catch((e: Error) => log.error({ err: e.message }, 'epoch rotation failed')));
      // Listening before saying ready: whoever waits for the line may signal at once.
      const stopped = new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      process.stdout.write(JSON.stringify({ event: 'ready', pid: process.pid, mqtt: broker ? 'in-process' : useMqtt ? redactUrl(brokerUrl) : null, ...(broker && { listening: broker.url }), serial: serial.length, ble: ble.length }) + '\n');
      const telemetry = o.influx ? new InfluxTelemetry({
        url: o.influx, database: 'vitalgate_telemetry', allowedFields: GATEWAY_TELEMETRY_FIELDS, warn: (m) => log.warn(m),
        ...(process.env.INFLUX_USERNAME && { username: process.env.INFLUX_USERNAME }),
        ...(process.env.INFLUX_PASSWORD && { password: process.env.INFLUX_PASSWORD }),
      }) : undefined;
      if (telemetry) log.info({ telemetry: telemetry.describe() }, 'writing status telemetry');
      // Telemetry needs a period even when the log line is off.
      const logEvery = o.statusSeconds ?? 10;
      const everyS = logEvery > 0 ? logEvery : telemetry ? 10 : 0;
      const statusTimer = everyS > 0 ? startStatusReports(gw, {
        ...(logEvery > 0 && { log }),
        ...(telemetry && { telemetry }),
        gateway: gw.chainLink?.address ?? (o.clientId ?? cfg.mqtt?.clientId ?? 'vitalgate-gateway'),
      }, everyS * 1000) : undefined;
      await stopped;
      clearInterval(statusTimer);
      // The gateway first: it acknowledges what it makes durable while devices are still connected.
      await gw.stop();
      await broker?.close();
      await telemetry?.stop();
      // Machine-readable, for supervisors and the bench: the gateway's own stage (intake → durable).
      process.stdout.write(JSON.stringify({ event: 'stages', readings: gw.stageLatency().receiveToDurableMs.count, ...gw.stageLatency() }) + '\n');
    });

  program
    .command('epoch')
    .description('epoch key management')
    .command('rotate')
    .description('tell the gateway running on a data directory to start a new epoch now')
    .option('--data-dir <dir>', 'gateway data directory', DEFAULT_DATA_DIR)
    .action(async (o: { dataDir: string }) => {
      // The lock names the process and its start time, so a pid the kernel has since given to
      // another program is never signalled.
      const holder = await readLock(o.dataDir);
      if (!holder || holder.pid <= 0) throw new Error(`no gateway is running on ${o.dataDir} (no lock file)`);
      if (!isLockLive(holder)) throw new Error(`the gateway that locked ${o.dataDir} (pid ${holder.pid}) is no longer running; the pid is stale or reused, so nothing was signalled`);
      if (holder.purpose !== 'gateway') throw new Error(`${o.dataDir} is held by \`vitalgate ${holder.purpose}\` (pid ${holder.pid}), which rotates epochs only on its timer`);
      const pid = holder.pid;
      process.kill(pid, 'SIGUSR2');
      process.stdout.write(`asked gateway ${pid} to rotate its epoch; see its log for the new epoch\n`);
    });
}
