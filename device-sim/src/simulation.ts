/**
 * A fleet of simulated devices publishing over MQTT with QoS 1, one connection per device as real
 * devices have. One timer drives every device (not one timer per stream per device), so thousands
 * of devices cost little more than their messages.
 */
import { EventEmitter } from 'node:events';
import mqtt, { type MqttClient } from 'mqtt';
import pMap from 'p-map';
import { encodeBody, readingTopic, sampleCount, type PayloadEncoding, type ReadingBody, type StreamName } from '@vitalgate/protocol';
import { SimDevice } from './device.js';
import { getProfile, messagesPerSecond, type Profile } from './profiles.js';

export interface SimulationOptions {
  brokerUrl: string;
  devices: number;
  /** Seconds of signal to send; Infinity runs until stop(). */
  durationS: number;
  profile?: string;
  /** 'mixed' alternates JSON and CBOR between devices, exercising both decoders. */
  encoding?: PayloadEncoding | 'mixed';
  devicesPerPatient?: number;
  seed?: number;
  /** Prefix of device ids (sim-0001, …) and patient ids (patient-0001, …). */
  devicePrefix?: string;
  patientPrefix?: string;
  tickMs?: number;
  connectConcurrency?: number;
  username?: string;
  password?: string;
}

export interface SentReading {
  patientId: string;
  deviceId: string;
  stream: StreamName;
  body: ReadingBody;
  publishedAt: number;
}

export interface SimulationStats {
  devices: number;
  connected: number;
  published: number;
  acked: number;
  failed: number;
  inFlight: number;
  samples: number;
  elapsedS: number;
}

export interface SimulationEvents {
  /** A reading the broker acknowledged (PUBACK). */
  acked: [r: SentReading];
  failed: [r: SentReading, err: Error];
  /** The devices stopped sending (the run's end, or stop()); their last publishes may still await PUBACKs. */
  ended: [];
}

interface SimClient {
  deviceId: string;
  patientId: string;
  seed: number;
  client: MqttClient;
  encoding: PayloadEncoding;
  /** Created when the run starts, so every device's clock starts together. */
  device?: SimDevice;
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');
/** A device's start offset within the first second, spread evenly by a multiplicative hash of its seed. */
const phaseMs = (seed: number) => Math.floor((Math.imul(seed, 2654435761) >>> 0) / 2 ** 32 * 1000);

export class Simulation extends EventEmitter<SimulationEvents> {
  readonly profile: Profile;
  private clients: SimClient[] = [];
  private timer: NodeJS.Timeout | undefined;
  private startMs = 0;
  private endMs = Infinity;
  private stats_ = { published: 0, acked: 0, failed: 0, samples: 0 };
  private done: Promise<void> | undefined;
  private finish: (() => void) | undefined;

  constructor(readonly opts: SimulationOptions) {
    super();
    if (!Number.isInteger(opts.devices) || opts.devices < 1) throw new Error('--devices must be a positive integer');
    if (!(opts.durationS > 0)) throw new Error('--duration must be a positive number of seconds');
    this.profile = getProfile(opts.profile ?? 'mixed');
  }

  /** Messages per second the whole fleet offers. */
  get offeredRate(): number {
    return messagesPerSecond(this.profile) * this.opts.devices;
  }

  /** Connects every device, then starts their clocks together. */
  async connect(onProgress?: (connected: number) => void): Promise<void> {
    const { devices } = this.opts;
    const width = Math.max(4, String(devices).length);
    const perPatient = this.opts.devicesPerPatient ?? 1;
    const seed = this.opts.seed ?? 1;
    const concurrency = this.opts.connectConcurrency ?? 50;
    let connected = 0;
    await pMap(Array.from({ length: devices }, (_, i) => i), async (i) => {
      const deviceId = `${this.opts.devicePrefix ?? 'sim'}-${pad(i + 1, width)}`;
      const patientId = `${this.opts.patientPrefix ?? 'patient'}-${pad(Math.floor(i / perPatient) + 1, width)}`;
      const enc = this.opts.encoding ?? 'cbor';
      const encoding: PayloadEncoding = enc === 'mixed' ? (i % 2 ? 'cbor' : 'json') : enc;
      const client = await mqtt.connectAsync(this.opts.brokerUrl, {
        clientId: deviceId,
        username: this.opts.username,
        password: this.opts.password,
        reconnectPeriod: 500,
        connectTimeout: 30_000,
      });
      this.clients[i] = { deviceId, patientId, seed: seed * 100_003 + i, client, encoding };
      onProgress?.(++connected);
    }, { concurrency });
  }

  /** Starts publishing. Resolves when the run's duration is over and every publish is settled. */
  run(): Promise<void> {
    if (this.clients.length === 0) throw new Error('connect() first');
    this.startMs = Date.now();
    // Real devices are not phase-locked: each one's clock starts at its own point in the first
    // second, so their frames (and the gateway's batch windows) are spread out as in a real ward.
    for (const c of this.clients) c.device = new SimDevice(c.deviceId, c.patientId, this.profile, this.startMs + phaseMs(c.seed), c.seed);
    this.endMs = Number.isFinite(this.opts.durationS) ? this.startMs + this.opts.durationS * 1000 : Infinity;
    this.done = new Promise<void>((resolve) => (this.finish = resolve));
    this.timer = setInterval(() => this.tick(), this.opts.tickMs ?? 20);
    return this.done;
  }

  private tick(): void {
    const now = Date.now();
    for (const c of this.clients) {
      for (const r of c.device!.due(now, this.endMs)) this.publish(c, r.stream, r.body, now);
    }
    if (now >= this.endMs) this.end();
  }

  private publish(c: SimClient, stream: StreamName, body: ReadingBody, now: number): void {
    const sent: SentReading = { patientId: c.patientId, deviceId: c.deviceId, stream, body, publishedAt: now };
    this.stats_.published++;
    this.stats_.samples += sampleCount(stream, body);
    c.client.publish(readingTopic(sent.patientId, sent.deviceId, stream), Buffer.from(encodeBody(body, c.encoding)), { qos: 1 }, (err) => {
      if (err) {
        this.stats_.failed++;
        this.emit('failed', sent, err);
      } else {
        this.stats_.acked++;
        this.emit('acked', sent);
      }
      if (this.timer === undefined) this.maybeDone();
    });
  }

  private end(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.emit('ended');
    this.maybeDone();
  }

  private maybeDone(): void {
    if (this.stats_.acked + this.stats_.failed >= this.stats_.published) this.finish?.();
  }

  /** Stops early (Ctrl-C): no new readings, but publishes already made are waited for. */
  stop(): Promise<void> {
    this.endMs = Math.min(this.endMs, Date.now());
    if (this.timer) this.tick();
    return this.done ?? Promise.resolve();
  }

  stats(): SimulationStats {
    const s = this.stats_;
    return {
      devices: this.opts.devices,
      connected: this.clients.filter((c) => c?.client.connected).length,
      ...s,
      inFlight: s.published - s.acked - s.failed,
      elapsedS: this.startMs ? (Math.min(Date.now(), this.endMs) - this.startMs) / 1000 : 0,
    };
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all(this.clients.map((c) => c?.client.endAsync()));
  }
}
