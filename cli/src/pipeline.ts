/**
 * The whole demo pipeline in one process: embedded chain, ingest (the cloud, on local storage),
 * broker, gateway and simulated devices. `run` and `start` both use it. The broker delivers to the
 * gateway in memory (`vitalgate gateway --serve-mqtt` on one edge box); production may also run
 * them as separate `vitalgate broker` and `vitalgate gateway --broker` processes, and ingest apart.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import pino, { type Logger } from 'pino';
import { startBroker, type RunningBroker } from '@vitalgate/broker';
import { Simulation, type SimulationOptions } from '@vitalgate/device-sim';
import { Gateway } from '@vitalgate/edge-gateway';
import { resolvePassphrase } from './passphrase.js';
import { chainDir, startEmbeddedChain, type EmbeddedChain } from './chain/embedded.js';
import type { EmbeddedIngest } from './cloud/embedded-ingest.js';
import { startIngestThread } from './cloud/ingest-thread.js';
import { demoSignInUrl, grantDemoAccess, registerDemoClinician } from './cloud/demo-clinician.js';

export interface PipelineOptions {
  devices: number;
  durationS: number;
  dataDir: string;
  passphraseFile?: string;
  profile?: string;
  encoding?: SimulationOptions['encoding'];
  mqttHost?: string;
  mqttPort?: number;
  batchWindowMs?: number;
  /** A batch closes early at this many samples (the gateway's default otherwise). */
  maxBatchSamples?: number;
  epochMinutes?: number;
  sentLog?: string;
  logLevel?: string;
  /** Anchor on the embedded anvil chain (default true). */
  chain?: boolean;
  anchorSeconds?: number;
  /** With the chain: a demo clinician granted every simulated patient, for the dashboard (`start`). */
  demoClinician?: boolean;
}

export interface Pipeline {
  broker: RunningBroker;
  gateway: Gateway;
  sim: Simulation;
  log: Logger;
  chain?: EmbeddedChain;
  /** The embedded cloud the gateway uploads to (with the chain: requests are signed by the gateway's account). */
  ingest?: EmbeddedIngest;
  /** The demo clinician and the dashboard link that signs it in (the key is in the fragment). */
  demo?: { address: string; signInUrl: string };
  /** Stops the devices, waits for their publishes, seals everything, shuts down. */
  shutdown(): Promise<void>;
}

export async function startPipeline(o: PipelineOptions, onConnectProgress?: (n: number) => void): Promise<Pipeline> {
  const log = pino({ level: o.logLevel ?? 'warn' }, pino.destination(2));
  const { passphrase } = resolvePassphrase(o.passphraseFile);
  const chain = o.chain === false ? undefined : await startEmbeddedChain(chainDir(o.dataDir));
  let ingest: EmbeddedIngest | undefined;
  let demoAddress: string | undefined;
  try {
    // On its own thread: the cloud's requests do not queue behind the broker, gateway and devices.
    if (chain) ingest = await startIngestThread(o.dataDir, chain, o.logLevel ?? 'warn');
    if (chain && ingest && o.demoClinician) demoAddress = await registerDemoClinician(o.dataDir, chain);
  } catch (e) {
    await ingest?.stop();
    await chain?.stop();
    throw e;
  }
  let gateway: Gateway | undefined;
  let broker: RunningBroker | undefined;
  let sent: WriteStream | undefined;
  try {
    gateway = await Gateway.start({
      lockPurpose: 'run',
      dataDir: o.dataDir,
      passphrase,
      batchWindowMs: o.batchWindowMs,
      maxBatchSamples: o.maxBatchSamples,
      epochPeriodMs: o.epochMinutes ? o.epochMinutes * 60_000 : undefined,
      logger: log.child({ name: 'gateway' }),
      ...(chain ? { chain: { url: chain.url, deploymentFile: chain.deploymentFile, adminKey: chain.adminKey, anchorPeriodMs: (o.anchorSeconds ?? 30) * 1000 } } : {}),
      // A one-shot run leaves nothing behind in the spool: its cloud copy is what `open --from-ingest` reads.
      ...(ingest ? { ingest: { url: ingest.url, stopTimeoutMs: 300_000 } } : {}),
    });
    // The broker hands the devices' readings to the gateway in memory, as `vitalgate gateway
    // --serve-mqtt` does, and a device's PUBACK waits until its reading is durable. Half the CPU of
    // a second MQTT hop to a subscribing gateway on the same loop.
    const local = gateway.openLocalIntake();
    broker = await startBroker({
      host: o.mqttHost ?? '127.0.0.1', port: o.mqttPort ?? 0, logger: log.child({ name: 'broker' }),
      localDelivery: { consumer: local, accepts: (topic) => local.accepts(topic) },
    });
    const sim = new Simulation({ brokerUrl: broker.url, devices: o.devices, durationS: o.durationS, profile: o.profile, encoding: o.encoding });
    if (o.sentLog) {
      const stream = createWriteStream(o.sentLog, { flags: 'w', mode: 0o600 });
      sent = stream;
      sim.on('acked', (r) => stream.write(JSON.stringify({ patientId: r.patientId, deviceId: r.deviceId, stream: r.stream, ...r.body }) + '\n'));
    }
    sim.on('failed', (r, err) => log.error({ deviceId: r.deviceId, stream: r.stream, seq: r.body.seq, err: err.message }, 'publish failed'));
    await sim.connect(onConnectProgress);
    const gw = gateway;
    // A device's PUBACK comes once its reading is durable. When the devices stop sending (the end of
    // the run, or Ctrl-C), seal what is pending at once, every patient's together, so that their last
    // PUBACKs do not each wait out a batch window.
    // Until every PUBACK is in: a last publish may still be on its way to the broker at the first seal.
    let settle: NodeJS.Timeout | undefined;
    sim.once('ended', () => {
      settle = setInterval(() => {
        if (sim.stats().inFlight === 0) return clearInterval(settle);
        void gw.flush(true).catch(() => undefined);
      }, 100);
      settle.unref();
    });
    const b = broker;
    const grants = demoAddress ? grantDemoAccess(gw, demoAddress, log.child({ name: 'demo' })) : undefined;
    return {
      broker: b, gateway: gw, sim, log, chain, ingest,
      ...(demoAddress && ingest && { demo: { address: demoAddress, signInUrl: demoSignInUrl(o.dataDir, ingest.url) } }),
      async shutdown() {
        await grants?.stop();
        // Stopping the devices waits for their last PUBACKs, which the settle timer speeds up.
        await sim.stop();
        clearInterval(settle);
        await sim.close();
        await gw.stop();
        await b.close();
        await ingest?.stop();
        await chain?.stop();
        if (sent) await new Promise<void>((r) => sent!.end(r));
      },
    };
  } catch (e) {
    await gateway?.stop().catch(() => undefined);
    await broker?.close();
    await ingest?.stop();
    await chain?.stop();
    sent?.end();
    throw e;
  }
}
