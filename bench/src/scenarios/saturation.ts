/**
 * Saturation: the same load (harness/load.ts) against a fresh broker twice, once drained by the gateway and
 * once by a bare counting subscriber.
 *
 * Knowing when a subscriber has received everything: after the last publish is acknowledged, one
 * marker reading is published on its own topic. The broker delivers to a subscriber in order over
 * its one connection, so once the marker has arrived every earlier reading has too. For the gateway
 * the marker is an ECG frame of 5000 samples, which fills a batch by itself and is therefore sealed
 * at the gateway's next flush tick instead of after a batch window; its batch appearing in the index
 * means the gateway has taken in everything, and SIGTERM then makes it seal the rest at once.
 */
import { dataDirLayout, readStore } from '@vitalgate/edge-gateway';
import { readingTopic, type WaveformBody } from '@vitalgate/protocol';
import { IndexTail } from '../harness/index-tail.js';
import { loadPatientId, SaturationLoad, type LoadResult } from '../harness/load.js';
import { sleep, withTimeout, type Child, type Log } from '../harness/child.js';
import { CpuMeter, fmtCpu, round1 } from '../harness/cpu-meter.js';
import { startBareServingMqtt, startBareSubscriber, startGatewayProcess, startGatewayServingMqtt, vitalgateBroker, type BrokerUnderTest } from '../harness/launchers.js';
import { preEnroll } from './sustained.js';

export const MARKER_PATIENT = 'bench-marker';
export const MARKER_DEVICE = 'bench-marker-device';
export const MARKER_TOPIC = readingTopic(MARKER_PATIENT, MARKER_DEVICE, 'ecg');
/** At least the gateway's default maxBatchSamples, so the marker's batch closes on arrival. */
const MARKER_SAMPLES = 5000;

export interface SaturationOptions {
  seconds: number;
  connections: number;
  window: number;
  log: Log;
  onCleanup: (f: () => Promise<void>) => void;
}

interface LoadSummary {
  published: number;
  acked: number;
  failed: number;
  /** Broker ingress: acknowledged publishes / (first publish → last PUBACK). */
  ackedPerSec: number;
  publishSeconds: number;
  /** From the last PUBACK until the subscriber had received the marker. */
  drainSeconds: number;
  markerReceived: boolean;
  cpuPercent: Record<string, number>;
  brokerRssMb: number | null;
}

export interface GatewaySaturation extends LoadSummary {
  maxMessagesPerSec: number;
  sealedReadings: number;
  /** First publish → last batch durable, s. */
  seconds: number;
  lost: number;
  duplicates: number;
  invented: number;
  p50LatencyMs: number | null;
  p99LatencyMs: number | null;
  rssMb: number | null;
  batches: number;
  gatewayExit: { code: number | null; signal: string | null; killed: boolean; seconds: number };
}

/** Credentials for a broker with identity and ACLs on. */
export interface BenchIdentities {
  /** device id → secret, for the load's connections. */
  devices: ReadonlyMap<string, string>;
  /** The subscriber: a gateway bound to `patients`. */
  subscriber: { id: string; secret: string };
  /** The device that publishes the marker on MARKER_TOPIC. */
  marker: { id: string; secret: string };
}

export interface BareSaturation extends LoadSummary {
  session: 'clean' | 'persistent';
  ceilingMessagesPerSec: number;
  received: number;
  /** First publish → last reading received, s. */
  seconds: number;
  /** Acknowledged but not received (QoS 1 to a clean subscriber should make this 0). */
  missing: number;
}

function markerBody(): WaveformBody {
  return { seq: 0, ts: Date.now(), rate: 250, samples: new Array<number>(MARKER_SAMPLES).fill(0) };
}

/** The load's patients and the marker's: what is enrolled ahead of time, and what a subscriber under ACLs subscribes to. */
export function loadPatients(prefix: string, connections: number): string[] {
  return [...Array.from({ length: connections }, (_, i) => loadPatientId(prefix, connections, i)), MARKER_PATIENT];
}

/** What drains the load (the gateway, or a bare subscriber), as `saturate` watches it. */
interface Drain {
  /** The processes to meter: the broker and the drain. */
  procs: ConstructorParameters<typeof CpuMeter>[0];
  /** How far it has got ("sealed N", "received N"), and whether the marker has arrived. */
  poll(): Promise<{ markerArrived: boolean; progress: string }>;
  /** Throws if the drain has died; asked while waiting for the marker. */
  check?(): void;
  /** Who, in the line logged while waiting: "the gateway", "the subscriber". */
  who: string;
  /** Logged when the marker did not arrive in time. */
  missedMarker: string;
}

interface Saturated {
  load: SaturationLoad;
  result: LoadResult;
  cpuPercent: Record<string, number>;
  markerReceived: boolean;
  /** From the last PUBACK until the marker arrived (or the wait gave up), s. */
  drainSeconds: number;
}

/** Connects the load, publishes, logs progress; `progress` is polled for the progress line. */
async function drive(o: SaturationOptions, phase: string, url: string, prefix: string, procs: ConstructorParameters<typeof CpuMeter>[0], progress: () => Promise<string>, ids?: BenchIdentities): Promise<{ load: SaturationLoad; result: LoadResult; cpuPercent: Record<string, number> }> {
  const load = new SaturationLoad({ brokerUrl: url, connections: o.connections, window: o.window, seconds: o.seconds, prefix, ...(ids && { secrets: ids.devices }) });
  o.onCleanup(async () => {
    load.stop();
    await load.close();
  });
  await withTimeout(load.connect(), 60_000, `${phase}: connecting ${o.connections} publishers`);
  const cpu = new CpuMeter(procs);
  const started = Date.now();
  const ticker = setInterval(() => {
    void progress().catch(() => '').then((extra) => {
      const s = load.stats();
      o.log(`${phase}: ${((Date.now() - started) / 1000).toFixed(0)}/${o.seconds}s published ${s.published} acked ${s.acked} in flight ${s.inFlight} ${extra} | cpu% ${fmtCpu(cpu.interval())}`);
    });
  }, 2000);
  let result: LoadResult;
  try {
    result = await withTimeout(load.run(), o.seconds * 1000 + 120_000, `${phase}: the publishers`);
  } finally {
    clearInterval(ticker);
  }
  const cpuPercent = cpu.read();
  await withTimeout(load.publishOnce(MARKER_TOPIC, markerBody(), ids?.marker), 60_000, `${phase}: publishing the marker`);
  return { load, result, cpuPercent };
}

/**
 * One saturation run against a broker and its drain, both already started: drives the load, then
 * waits until the drain has taken in the marker (so everything before it), or gives up. On an error
 * the load is closed before it is thrown.
 */
async function saturate(o: SaturationOptions, phase: string, url: string, prefix: string, drain: Drain, ids?: BenchIdentities): Promise<Saturated> {
  const d = await drive(o, phase, url, prefix, drain.procs, async () => (await drain.poll()).progress, ids);
  try {
    const markerPublished = Date.now();
    const deadline = Date.now() + 120_000 + o.seconds * 5000;
    let lastLog = Date.now();
    let markerReceived = false;
    while (Date.now() < deadline) {
      const p = await drain.poll();
      if (p.markerArrived) {
        markerReceived = true;
        break;
      }
      drain.check?.();
      if (Date.now() - lastLog > 2000) {
        lastLog = Date.now();
        o.log(`${phase}: waiting for ${drain.who} to take in the backlog (${((Date.now() - markerPublished) / 1000).toFixed(0)} s, ${p.progress}/${d.result.acked})`);
      }
      await sleep(20);
    }
    const drainSeconds = round1((Date.now() - d.result.lastAckAt) / 1000);
    if (!markerReceived) o.log(`${phase}: ${drain.missedMarker}`);
    return { ...d, markerReceived, drainSeconds };
  } catch (e) {
    await d.load.close();
    throw e;
  }
}

/** What every saturation run reports of its load; `brokerRssMb` is read before the broker stops. */
function loadSummary(s: Saturated, brokerRssMb: number | null): LoadSummary {
  const r = s.result;
  return {
    published: r.published,
    acked: r.acked,
    failed: r.failed,
    ackedPerSec: round1(r.acked / Math.max(1e-3, (r.lastAckAt - r.firstPublishAt) / 1000)),
    publishSeconds: round1((r.lastAckAt - r.firstPublishAt) / 1000),
    drainSeconds: s.drainSeconds,
    markerReceived: s.markerReceived,
    cpuPercent: s.cpuPercent,
    brokerRssMb: brokerRssMb === null ? null : round1(brokerRssMb),
  };
}

/**
 * `ackOnArrival` runs the gateway with the old acknowledge-on-arrival policy, to measure what
 * acknowledging once durable costs; `inProcess` runs it hosting the broker (`--serve-mqtt`), the
 * edge box's deployment, instead of behind a `vitalgate broker`.
 */
export async function runSaturationWithGateway(o: SaturationOptions & { dataDir: string; passphrase: string; passphraseFile: string; preEnroll: boolean; ackOnArrival?: boolean; inProcess?: boolean }): Promise<GatewaySaturation> {
  const { log } = o;
  const phase = o.inProcess ? 'saturation/in-process' : 'saturation/gateway';
  const prefix = o.inProcess ? 'satgwin' : 'satgw';
  if (o.preEnroll) {
    const patients = loadPatients(prefix, o.connections);
    await preEnroll(o.dataDir, o.passphrase, patients);
    log(`${phase}: pre-enrolled ${patients.length} patients`);
  }
  const broker = o.inProcess ? undefined : await vitalgateBroker(log);
  let gateway: Child | undefined;
  let load: SaturationLoad | undefined;
  try {
    let url: string;
    if (broker) {
      gateway = await startGatewayProcess(log, broker.url, o.dataDir, o.passphraseFile, 'gateway', o.ackOnArrival ? ['--ack-on-arrival'] : []);
      url = broker.url;
      log(`${phase}: broker ${broker.url} (pid ${broker.pid}), gateway pid ${gateway.pid}`);
    } else {
      ({ child: gateway, url } = await startGatewayServingMqtt(log, o.dataDir, o.passphraseFile));
      log(`${phase}: the gateway serving MQTT at ${url} (pid ${gateway.pid})`);
    }
    const gw = gateway;
    const tail = new IndexTail(dataDirLayout(o.dataDir).index, new Set([MARKER_DEVICE]));
    const d = await saturate(o, phase, url, prefix, {
      procs: broker ? [{ name: 'broker', child: broker.cpu }, { name: 'gateway', child: gw }] : [{ name: 'gateway', child: gw }],
      poll: async () => {
        await tail.poll();
        return { markerArrived: tail.excludedBatches > 0, progress: `sealed ${tail.readings}` };
      },
      check: () => {
        if (!gw.alive) throw new Error(`the gateway exited during the saturation run${gw.stderrTail()}`);
      },
      who: 'the gateway',
      missedMarker: 'the gateway did not take in the marker in time; stopping it anyway',
    });
    load = d.load;
    const rssMb = gateway.peakRssMb() ?? null;
    const brokerRssMb = broker ? broker.peakRssMb() ?? null : null;
    const stopT = Date.now();
    const gx = await gateway.stop(120_000);
    const gatewayExit = { code: gx.code, signal: gx.signal, killed: gx.killed, seconds: round1((Date.now() - stopT) / 1000) };
    await load.close();
    await broker?.stop();
    await tail.poll();

    const ledger = d.result.ledger;
    let batches = 0;
    let unreadable = 0;
    for await (const b of readStore(o.dataDir, o.passphrase)) {
      if (!b.ok) {
        unreadable++;
        log(`${phase}: batch ${b.id} unreadable: ${b.reason}`);
        continue;
      }
      if (b.header.deviceId === MARKER_DEVICE) continue;
      batches++;
      ledger.foundBatch(b.header.deviceId, b.header.stream, b.bodies, tail.durableAt.get(b.id));
    }
    const r = ledger.reconcile();
    const seconds = (tail.lastDurableAt - d.result.firstPublishAt) / 1000;
    return {
      ...loadSummary(d, brokerRssMb),
      maxMessagesPerSec: round1(seconds > 0 ? tail.readings / seconds : 0),
      sealedReadings: tail.readings,
      seconds: round1(seconds),
      lost: r.lost,
      duplicates: r.duplicates,
      invented: r.invented + unreadable,
      p50LatencyMs: ledger.latency.percentile(50),
      p99LatencyMs: ledger.latency.percentile(99),
      rssMb: rssMb === null ? null : round1(rssMb),
      batches,
      gatewayExit,
    };
  } finally {
    await load?.close();
    await Promise.all([gateway?.stop(10_000), broker?.stop()]);
  }
}

export interface BareRunOptions extends SaturationOptions {
  persistent: boolean;
  /** Default: a fresh `vitalgate broker`, stopped afterwards. A broker passed here is stopped too. */
  broker?: BrokerUnderTest;
  /** Subscribe per patient (as a gateway under ACLs must) instead of to every patient at once. */
  perPatientFilters?: boolean;
  identities?: BenchIdentities;
  phase?: string;
  prefix?: string;
  /** The counter hosts the broker (bare-subscriber.ts --serve-mqtt), acknowledging on arrival: (e), the ceiling for (d). */
  inProcess?: boolean;
}

export async function runSaturationBare(o: BareRunOptions): Promise<BareSaturation> {
  const { log } = o;
  const phase = o.phase ?? (o.persistent ? 'saturation/bare-persistent' : 'saturation/bare');
  const prefix = o.prefix ?? (o.persistent ? 'satbarep' : 'satbare');
  const broker = o.inProcess ? undefined : o.broker ?? (await vitalgateBroker(log));
  let sub: Child | undefined;
  let load: SaturationLoad | undefined;
  try {
    let url: string;
    if (broker) {
      sub = await startBareSubscriber(log, broker.url, MARKER_TOPIC, {
        ...(o.persistent && { persistentSession: 'vitalgate-bench-bare' }),
        ...(o.perPatientFilters && { patients: loadPatients(prefix, o.connections) }),
        ...(o.identities && { login: o.identities.subscriber }),
      });
      url = broker.url;
      log(`${phase}: ${broker.name} ${broker.url}, bare subscriber pid ${sub.pid}`);
    } else {
      ({ child: sub, url } = await startBareServingMqtt(log, MARKER_TOPIC));
      log(`${phase}: the bare counter serving MQTT at ${url} (pid ${sub.pid})`);
    }
    const s = sub;
    let latest: Record<string, unknown> = { count: 0, markerAt: null };
    s.onMessage((m) => {
      if (m.event === 'report' || m.event === 'final') latest = m;
    });
    const d = await saturate(o, phase, url, prefix, {
      procs: broker ? [{ name: broker.name, child: broker.cpu }, { name: 'subscriber', child: s }] : [{ name: 'subscriber', child: s }],
      poll: async () => {
        const next = s.waitFor('report', 10_000);
        s.send('report');
        const r = await next;
        return { markerArrived: r.markerAt !== null && r.markerAt !== undefined, progress: `received ${String(r.count)}` };
      },
      who: 'the subscriber',
      missedMarker: 'the bare subscriber did not receive the marker in time',
    }, o.identities);
    load = d.load;
    const brokerRssMb = (broker ?? s).peakRssMb() ?? null;
    const final = sub.waitFor('final', 10_000);
    sub.send('exit');
    latest = await final;
    await sub.exited;
    const count = Number(latest.count);
    const lastAt = Number(latest.lastAt);
    const seconds = (lastAt - d.result.firstPublishAt) / 1000;
    return {
      ...loadSummary(d, brokerRssMb),
      session: o.persistent ? 'persistent' : 'clean',
      ceilingMessagesPerSec: round1(seconds > 0 ? count / seconds : 0),
      received: count,
      seconds: round1(seconds),
      missing: Math.max(0, d.result.acked - count),
    };
  } finally {
    await load?.close();
    await Promise.all([sub?.stop(5000), broker?.stop()]);
  }
}
