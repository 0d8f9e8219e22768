/** Launchers: the processes a scenario runs against, each started from its built JS file as a Child. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@vitalgate/test-support';
import { Child, CLI_MAIN, sleep, type Log } from './child.js';
import { procCpuSeconds, procStatusKb } from './cpu-meter.js';

export const BARE_SUBSCRIBER = resolve(dirname(fileURLToPath(import.meta.url)), 'bare-subscriber.js');

/** Starts the broker from the CLI on a free port; resolves with its URL. */
export async function startBrokerProcess(log: Log, name = 'broker', extraArgs: readonly string[] = []): Promise<{ child: Child; url: string }> {
  const child = new Child(name, CLI_MAIN, ['broker', '--port', '0', '--log-level', 'warn', ...extraArgs], log);
  const msg = await child.waitFor('listening', 20_000);
  if (typeof msg.url !== 'string') throw new Error(`${name} reported no url: ${JSON.stringify(msg)}`);
  return { child, url: msg.url };
}

/** Starts the gateway from the CLI; resolves once it reports that it is subscribed. */
export async function startGatewayProcess(log: Log, brokerUrl: string, dataDir: string, passphraseFile: string, name = 'gateway', extraArgs: string[] = []): Promise<Child> {
  const child = new Child(name, CLI_MAIN, ['gateway', '--broker', brokerUrl, '--data-dir', dataDir, '--passphrase-file', passphraseFile, '--log-level', 'warn', ...extraArgs], log);
  await child.waitFor('ready', 60_000);
  return child;
}

/** Whether the built gateway can host the broker itself (`vitalgate gateway --serve-mqtt`). */
export function gatewayServesMqtt(): boolean {
  const r = spawnSync(process.execPath, [CLI_MAIN, 'gateway', '--help'], { encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`.includes('--serve-mqtt');
}

/** The gateway hosting the broker: one process, its ready line says where it listens. */
export async function startGatewayServingMqtt(log: Log, dataDir: string, passphraseFile: string): Promise<{ child: Child; url: string }> {
  const child = new Child('gateway', CLI_MAIN, ['gateway', '--serve-mqtt', '127.0.0.1:0', '--data-dir', dataDir, '--passphrase-file', passphraseFile, '--log-level', 'warn'], log);
  try {
    const msg = await child.waitFor('ready', 60_000);
    if (typeof msg.listening !== 'string') throw new Error(`the gateway's ready line has no "listening" URL: ${JSON.stringify(msg)}`);
    return { child, url: msg.listening };
  } catch (e) {
    await child.stop(5000);
    throw e;
  }
}

/** A broker a saturation run is pointed at (ours, or Mosquitto), measured and stopped the same way. */
export interface BrokerUnderTest {
  url: string;
  name: string;
  /** Ours only: its process id, for the log. */
  pid?: number;
  cpu: { cpuSeconds(): number | undefined };
  peakRssMb(): number | undefined;
  stop(): Promise<void>;
}

/** Our broker from the CLI (any extra flags, e.g. --registry), as a BrokerUnderTest. */
export async function vitalgateBroker(log: Log, extraArgs: readonly string[] = []): Promise<BrokerUnderTest> {
  const b = await startBrokerProcess(log, 'broker', extraArgs);
  return { url: b.url, name: 'broker', pid: b.child.pid, cpu: b.child, peakRssMb: () => b.child.peakRssMb(), stop: async () => void (await b.child.stop(10_000)) };
}

/**
 * The bare counting subscriber (bare-subscriber.ts) on `brokerUrl`; resolves once it is subscribed.
 * `patients`: one filter per patient instead of one for all; `login`: a username and its secret.
 */
/** The bare counter hosting the broker itself (bare-subscriber.ts --serve-mqtt): the ceiling for `gateway --serve-mqtt`. */
export async function startBareServingMqtt(log: Log, markerTopic: string): Promise<{ child: Child; url: string }> {
  const child = new Child('bare-subscriber', BARE_SUBSCRIBER, ['--serve-mqtt', '--marker-topic', markerTopic], log, { stdin: true });
  try {
    const msg = await child.waitFor('ready', 30_000);
    if (typeof msg.listening !== 'string') throw new Error(`the bare counter's ready line has no "listening" URL: ${JSON.stringify(msg)}`);
    return { child, url: msg.listening };
  } catch (e) {
    await child.stop(5000);
    throw e;
  }
}

export async function startBareSubscriber(log: Log, brokerUrl: string, markerTopic: string, o: { persistentSession?: string; patients?: readonly string[]; login?: { id: string; secret: string } } = {}): Promise<Child> {
  const args = ['--broker', brokerUrl, '--marker-topic', markerTopic];
  if (o.persistentSession !== undefined) args.push('--persistent-session', o.persistentSession);
  if (o.patients) args.push('--patients', o.patients.join(','));
  if (o.login) args.push('--username', o.login.id);
  const sub = new Child('bare-subscriber', BARE_SUBSCRIBER, args, log, { stdin: true, ...(o.login && { env: { BENCH_MQTT_PASSWORD: o.login.secret } }) });
  try {
    await sub.waitFor('ready', 30_000);
  } catch (e) {
    await sub.stop(5000);
    throw e;
  }
  return sub;
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited with code ${child.exitCode} before listening`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() - t0 > timeoutMs) throw new Error(`mosquitto did not listen on ${port} within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/**
 * Mosquitto configured like our broker: loopback, no persistence, no limit on queued or in-flight
 * QoS 1 messages (aedes has none either, so neither broker drops under the flood).
 */
export async function mosquittoBroker(bin: string, dir: string, name: string, identity?: { passwordFile: string; aclFile: string }): Promise<BrokerUnderTest> {
  const port = await freePort();
  const conf = join(dir, `${name}.conf`);
  await writeFile(conf, [
    `listener ${port} 127.0.0.1`,
    // Started as root, Mosquitto would switch to user "mosquitto", who cannot read our 0600 files.
    `user ${userInfo().username}`,
    'persistence false',
    'max_queued_messages 0',
    'max_inflight_messages 0',
    'log_dest stderr',
    'log_type error',
    ...(identity ? ['allow_anonymous false', `password_file ${identity.passwordFile}`, `acl_file ${identity.aclFile}`] : ['allow_anonymous true']),
    '',
  ].join('\n'));
  const child = spawn(bin, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d).slice(-2000));
  await waitForPort(port, child, 10_000).catch((e: Error) => {
    child.kill('SIGKILL');
    throw new Error(`${e.message}: ${err}`);
  });
  const pid = child.pid!;
  let peak = 0;
  const peakTimer = setInterval(() => (peak = Math.max(peak, procStatusKb(pid, 'VmHWM'))), 500);
  return {
    url: `mqtt://127.0.0.1:${port}`,
    name: 'mosquitto',
    cpu: { cpuSeconds: () => procCpuSeconds(pid) },
    peakRssMb: () => (Math.max(peak, procStatusKb(pid, 'VmHWM')) / 1024) || undefined,
    stop: async () => {
      clearInterval(peakTimer);
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(5000).then(() => child.kill('SIGKILL'))]);
    },
  };
}
