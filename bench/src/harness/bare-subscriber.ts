/**
 * The ceiling reference of the saturation bench: an MQTT subscriber that does nothing but count.
 * It subscribes to every reading topic at QoS 1 (as the gateway does) and so measures what the
 * broker can deliver to one subscriber on this machine.
 *
 *   node bench/dist/src/harness/bare-subscriber.js --broker URL [--marker-topic TOPIC] [--max-seconds S] [--persistent-session ID]
 *
 * --patients P1,P2,… subscribes to each patient's readings (vg/v1/{p}/+/+, as a gateway bound to
 * those patients must under ACLs) instead of every patient's. --username U logs in as U with the
 * password from the environment variable BENCH_MQTT_PASSWORD.
 *
 * --persistent-session ID connects with clean=false and that client id, as the gateway does (the
 * broker then keeps the subscriber's QoS 1 queue in its persistence); the default is a clean session.
 *
 * --serve-mqtt: instead of connecting to a broker, this process hosts one (on 127.0.0.1, a free
 * port) that hands device publishes on reading topics to the counter in memory and acknowledges
 * them at once, as `vitalgate gateway --serve-mqtt` hosts the gateway: the ceiling for that
 * deployment. The ready line then carries "listening": its URL.
 *
 * stdout, one JSON line each:
 *   {"event":"ready"}                 once subscribed
 *   {"event":"report",...}            for each "report" line read on stdin
 *   {"event":"final",...}             at exit (stdin closed, SIGTERM or SIGINT, or --max-seconds)
 * A report carries count (readings, marker excluded), firstAt and lastAt (ms, first and last
 * reading received), markerAt (when the marker topic was last received, or null).
 * Closing stdin ends the process, so it cannot outlive the bench that started it.
 */
import mqtt from 'mqtt';
import { startBroker } from '@vitalgate/broker';
import { isReadingTopic, patientFilter, TOPIC_ROOT } from '@vitalgate/protocol';

export interface SubscriberReport {
  event: 'report' | 'final';
  count: number;
  firstAt: number | null;
  lastAt: number | null;
  markerAt: number | null;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const broker = arg('--broker');
const serveMqtt = process.argv.includes('--serve-mqtt');
if (!broker === !serveMqtt) {
  process.stderr.write('bare-subscriber: give --broker URL, or --serve-mqtt\n');
  process.exit(2);
}
const markerTopic = arg('--marker-topic');
const maxSeconds = Number(arg('--max-seconds') ?? 900);
const persistentId = arg('--persistent-session');
const patients = arg('--patients')?.split(',').filter(Boolean);
const username = arg('--username');

let count = 0;
let firstAt: number | null = null;
let lastAt: number | null = null;
let markerAt: number | null = null;

const report = (event: SubscriberReport['event']): void => {
  const r: SubscriberReport = { event, count, firstAt, lastAt, markerAt };
  process.stdout.write(JSON.stringify(r) + '\n');
};

const count1 = (topic: string): void => {
  const now = Date.now();
  if (topic === markerTopic) {
    markerAt = now;
    return;
  }
  count++;
  if (firstAt === null) firstAt = now;
  lastAt = now;
};

let close: () => Promise<void>;
if (serveMqtt) {
  const hosted = await startBroker({
    host: '127.0.0.1', port: 0,
    localDelivery: { consumer: { take: (topic, _payload, ack) => { count1(topic); ack?.(); return undefined; } }, accepts: isReadingTopic },
  });
  close = () => hosted.close();
  process.stdout.write(JSON.stringify({ event: 'ready', pid: process.pid, listening: hosted.url }) + '\n');
} else {
  const client = await mqtt.connectAsync(broker!, {
    clientId: username ?? persistentId ?? `vitalgate-bench-bare-${process.pid}`,
    ...(username && { username, password: process.env.BENCH_MQTT_PASSWORD }),
    clean: persistentId === undefined,
    reconnectPeriod: 1000,
    connectTimeout: 30_000,
  });
  client.on('message', (topic) => count1(topic));
  client.on('error', (e) => process.stderr.write(`bare-subscriber: mqtt error: ${e.message}\n`));
  const granted = await client.subscribeAsync(patients ? patients.map((p) => `${TOPIC_ROOT}/${p}/+/+`) : patientFilter(), { qos: 1 });
  if (granted.some((g) => g.qos !== 1)) {
    process.stderr.write(`bare-subscriber: broker did not grant QoS 1: ${JSON.stringify(granted)}\n`);
    process.exit(1);
  }
  close = () => new Promise<void>((resolve) => client.end(true, {}, () => resolve()));
  process.stdout.write(JSON.stringify({ event: 'ready', pid: process.pid }) + '\n');
}

let ending = false;
const end = (): void => {
  if (ending) return;
  ending = true;
  report('final');
  void close().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};

let buf = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk: string) => {
  buf += chunk;
  let nl: number;
  while ((nl = buf.indexOf('\n')) >= 0) {
    const line = buf.slice(0, nl).trim();
    buf = buf.slice(nl + 1);
    if (line === 'report') report('report');
    else if (line === 'exit') end();
  }
});
process.stdin.on('end', end);
process.once('SIGTERM', end);
process.once('SIGINT', end);
setTimeout(end, maxSeconds * 1000).unref();
