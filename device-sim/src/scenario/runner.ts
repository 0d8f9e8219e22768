/**
 * Runs a scenario: builds every device (synthetic profile or WFDB replay) with its transport,
 * drives them from one timer, applies faults, and keeps the ledger of what was generated, what
 * really went out, and what was deliberately dropped or damaged. The ledger ends as a
 * machine-readable report; every delivered reading can also be streamed to a sent log.
 */
import { EventEmitter } from 'node:events';
import type { ReadingBody, StreamName } from '@vitalgate/protocol';
import { SimDevice, type DeviceReading } from '../device.js';
import { getProfile } from '../profiles.js';
import { ReplayDevice } from '../replay.js';
import { Prng } from '../signals/index.js';
import { SerialLink } from '../transports/serial-link.js';
import type { DeviceGroup, FaultSpec, Scenario } from './schema.js';
import { BleSimHub, BleSimTransport, MqttTransport, SerialTransport, type DeviceTransport, type TransportKind } from './transports.js';

export interface DeviceLedger {
  deviceId: string;
  patientId: string;
  transport: TransportKind;
  source: string;
  generated: number;
  delivered: number;
  failed: number;
  dropped: number;
  corrupted: number;
  undeliverable: number;
  battery: number;
  diedAtS?: number;
}

export interface ScenarioReport {
  scenario: string;
  startedAt: string;
  durationS: number;
  bleSimUrl?: string;
  devices: DeviceLedger[];
  totals: Omit<DeviceLedger, 'deviceId' | 'patientId' | 'transport' | 'source' | 'battery' | 'diedAtS'> & { devices: number; deadDevices: number };
}

export interface DeliveredReading {
  transport: TransportKind;
  patientId: string;
  deviceId: string;
  stream: StreamName;
  body: ReadingBody;
  deliveredAt: number;
}

export interface RunnerEvents {
  delivered: [r: DeliveredReading];
}

export interface RunnerOptions {
  brokerUrl?: string;
  mqttUsername?: string;
  mqttPassword?: string;
  tickMs?: number;
}

interface SourceLike { due(now: number, until?: number): DeviceReading[] }

interface Dev {
  ledger: DeviceLedger;
  /** Built when the run starts, so every device's clock starts together. */
  makeSource: (startMs: number) => SourceLike;
  source: SourceLike;
  transport: DeviceTransport;
  faults: FaultSpec[];
  held: DeviceReading[];
  holding: boolean;
  /** An electrode is off the skin (a lead-off fault): no ECG is measured, and the status says so. */
  leadOff: boolean;
  pending: Set<Promise<void>>;
  rng: Prng;
  nextStatusAt: number;
  serial?: SerialLink;
}

const pad = (n: number) => String(n).padStart(4, '0');

export class ScenarioRunner extends EventEmitter<RunnerEvents> {
  private devs: Dev[] = [];
  private links = new Map<string, SerialLink>();
  private hub: BleSimHub | undefined;
  private timer: NodeJS.Timeout | undefined;
  private startMs = 0;
  private endMs = 0;
  private done: (() => void) | undefined;
  private finished: Promise<void> | undefined;

  constructor(readonly scenario: Scenario, readonly opts: RunnerOptions = {}) {
    super();
  }

  get bleSimUrl(): string | undefined {
    return this.hub?.url;
  }

  /** Connects every device's transport (and starts the BLE-sim hub if any device needs it). */
  async prepare(onProgress?: (msg: string) => void): Promise<void> {
    const sc = this.scenario;
    if (sc.devices.some((g) => g.transport === 'ble-sim')) {
      this.hub = await BleSimHub.listen(sc.bleSimPort);
      onProgress?.(`BLE-sim hub at ${this.hub.url}`);
    }
    let n = 0;
    for (const [gi, g] of sc.devices.entries()) {
      for (let i = 0; i < g.count; i++) {
        const base = g.id ?? `${g.transport === 'mqtt' ? 'sim' : g.transport}-g${gi + 1}`;
        const deviceId = g.count === 1 && g.id ? g.id : `${base}-${pad(i + 1)}`;
        const patientId = g.patient ?? `patient-${deviceId}`;
        this.devs.push(await this.makeDevice(g, deviceId, patientId, (sc.seed * 1_000_003 + gi * 10_007 + i) >>> 0));
        onProgress?.(`connected ${++n}/${sc.devices.reduce((a, x) => a + x.count, 0)} devices`);
      }
    }
    for (const d of this.devs) await d.transport.ready();
  }

  private async makeDevice(g: DeviceGroup, deviceId: string, patientId: string, seed: number): Promise<Dev> {
    const skew = g.clockSkewMs;
    let makeSource: (startMs: number) => SourceLike;
    let streams: StreamName[];
    let label: string;
    if (g.replay) {
      const replay = await ReplayDevice.open(g.replay, { deviceId, patientId, lead: g.lead, speed: g.speed, loop: g.loop });
      makeSource = (startMs) => { replay.start(startMs); return replay; };
      streams = replay.streams;
      label = `replay:${g.replay.split('/').pop()}`;
    } else {
      const profile = getProfile(g.profile ?? (g.transport === 'ble-sim' ? 'vitals' : 'mixed'));
      makeSource = (startMs) => new SimDevice(deviceId, patientId, profile, startMs, g.seed ?? seed);
      streams = profile.streams.map((s) => s.stream);
      label = `profile:${profile.name}`;
    }
    let transport: DeviceTransport;
    let serial: SerialLink | undefined;
    if (g.transport === 'mqtt') {
      if (!this.opts.brokerUrl && !this.scenario.broker) throw new Error(`device ${deviceId} uses MQTT but no broker was given (--broker or broker: in the scenario)`);
      transport = await MqttTransport.connect(this.opts.brokerUrl ?? this.scenario.broker!, patientId, deviceId, g.encoding, { username: this.opts.mqttUsername, password: this.opts.mqttPassword });
    } else if (g.transport === 'serial') {
      serial = this.links.get(g.port!);
      if (!serial) {
        serial = await SerialLink.open({ path: g.port!, baudRate: g.baudRate });
        this.links.set(g.port!, serial);
      }
      // Firmware counts ms since it booted (here: as if ten days ago), and the scenario's skew is added on top.
      const boot = Date.now() - 10 * 86_400_000;
      transport = new SerialTransport(serial, deviceId, () => Math.max(0, Date.now() - boot + skew + this.extraSkew(deviceId)));
    } else {
      streams = streams.filter((s) => BleSimTransport.charFor(s));
      if (streams.length === 0) throw new Error(`device ${deviceId}: none of its streams has a BLE GATT characteristic (use a scalar profile such as vitals or pulse-ox)`);
      const services = [...new Set(streams.map((s) => BleSimTransport.serviceFor(s)!))];
      const p = this.hub!.addPeripheral({ id: deviceId, name: `Sim ${label}`, services });
      transport = new BleSimTransport(p, streams.map((s) => BleSimTransport.charFor(s)!));
    }
    const faults = this.scenario.faults.filter((f) => !f.devices || f.devices.some((x) => deviceId === x || deviceId.startsWith(x)));
    return {
      ledger: { deviceId, patientId, transport: g.transport, source: label, generated: 0, delivered: 0, failed: 0, dropped: 0, corrupted: 0, undeliverable: 0, battery: 100 },
      makeSource, source: { due: () => [] }, transport, faults, held: [], holding: false, leadOff: false, pending: new Set(), rng: new Prng(seed, 'faults'), nextStatusAt: 0, serial,
    };
  }

  private extraSkew(deviceId: string): number {
    const now = Date.now();
    const d = this.devs.find((x) => x.ledger.deviceId === deviceId);
    return (d?.faults ?? []).filter((f) => f.kind === 'clock-skew' && this.active(f, now)).reduce((a, f) => a + f.skewMs, 0);
  }

  private active(f: FaultSpec, now: number): boolean {
    const t = (now - this.startMs) / 1000;
    return t >= f.at && (f.for === undefined || t < f.at + f.for);
  }

  /** Runs until the scenario's duration is over and every send has settled. */
  run(): Promise<void> {
    this.startMs = Date.now();
    this.endMs = this.startMs + this.scenario.durationS * 1000;
    for (const d of this.devs) d.source = d.makeSource(this.startMs);
    this.finished = new Promise<void>((r) => (this.done = r));
    this.timer = setInterval(() => void this.tick(), this.opts.tickMs ?? 20);
    return this.finished;
  }

  private track(d: Dev, p: Promise<void>): void {
    d.pending.add(p);
    void p.finally(() => d.pending.delete(p));
  }

  private deliver(d: Dev, r: DeviceReading): void {
    this.track(d, d.transport.send(r.stream, r.body).then((res) => {
      if (res.delivered) {
        d.ledger.delivered++;
        this.emit('delivered', { transport: d.ledger.transport, patientId: d.ledger.patientId, deviceId: d.ledger.deviceId, stream: r.stream, body: res.received, deliveredAt: Date.now() });
      } else if (/subscribed|characteristic/.test(res.reason)) {
        d.ledger.undeliverable++;
      } else {
        d.ledger.failed++;
      }
    }));
  }

  private async tick(): Promise<void> {
    const now = Date.now();
    const t = (now - this.startMs) / 1000;
    for (const d of this.devs) {
      if (d.ledger.diedAtS !== undefined) continue;
      const drain = d.faults.find((f) => f.kind === 'battery-drain' && this.active(f, now));
      if (drain) {
        d.ledger.battery = Math.max(0, 100 - drain.percentPerMinute * ((t - drain.at) / 60));
        if (d.ledger.battery <= 0) {
          d.ledger.diedAtS = t;
          continue;
        }
      }
      const leadOff = d.faults.some((f) => f.kind === 'lead-off' && this.active(f, now));
      if (leadOff !== d.leadOff) {
        d.leadOff = leadOff;
        // A lead coming off (or back) is reported at once, as firmware raises it.
        d.nextStatusAt = now;
      }
      if (now >= d.nextStatusAt) {
        d.nextStatusAt = now + this.scenario.statusEveryS * 1000;
        this.track(d, d.transport.sendStatus({ battery: Math.round(d.ledger.battery), ...(d.leadOff && { leadOff: true }) }).catch(() => undefined));
      }
      const holdNow = d.faults.some((f) => (f.kind === 'disconnect' || f.kind === 'burst') && this.active(f, now));
      if (holdNow && !d.holding) {
        d.holding = true;
        if (d.faults.some((f) => f.kind === 'disconnect' && this.active(f, now))) this.track(d, d.transport.drop());
      } else if (!holdNow && d.holding) {
        d.holding = false;
        const held = d.held;
        d.held = [];
        // Back on the air: wait for the link, then send what was kept, in order.
        this.track(d, d.transport.ready().then(() => { for (const r of held) this.deliver(d, r); }, () => { d.ledger.failed += held.length; }));
      }
      for (const r of d.source.due(now, this.endMs)) {
        // Electrodes off the skin measure nothing: no ECG exists to send, so none is counted.
        if (d.leadOff && r.stream === 'ecg') continue;
        d.ledger.generated++;
        if (d.holding) { d.held.push(r); continue; }
        const drop = d.faults.find((f) => f.kind === 'drop' && this.active(f, now));
        if (drop && d.rng.uniform() < drop.probability) { d.ledger.dropped++; continue; }
        const corrupt = d.faults.find((f) => f.kind === 'corrupt' && this.active(f, now));
        if (corrupt && d.rng.uniform() < corrupt.probability) {
          d.ledger.corrupted++;
          this.track(d, d.transport.sendCorrupt(r.stream, r.body).catch(() => undefined));
          continue;
        }
        this.deliver(d, r);
      }
    }
    if (now >= this.endMs && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
      // Whatever is still held at the end goes out now: the scenario's devices lose nothing they buffered.
      for (const d of this.devs) {
        if (d.held.length) {
          const held = d.held;
          d.held = [];
          this.track(d, d.transport.ready().then(() => { for (const r of held) this.deliver(d, r); }, () => { d.ledger.failed += held.length; }));
        }
      }
      while (this.devs.some((d) => d.pending.size)) await Promise.all(this.devs.flatMap((d) => [...d.pending]));
      this.done?.();
    }
  }

  /** Ends the run early (Ctrl-C); sends already started are waited for. */
  stop(): Promise<void> {
    this.endMs = Math.min(this.endMs, Date.now());
    return this.finished ?? Promise.resolve();
  }

  report(): ScenarioReport {
    const devices = this.devs.map((d) => ({ ...d.ledger, battery: Math.round(d.ledger.battery) }));
    const sum = (k: 'generated' | 'delivered' | 'failed' | 'dropped' | 'corrupted' | 'undeliverable') => devices.reduce((a, d) => a + d[k], 0);
    return {
      scenario: this.scenario.name,
      startedAt: new Date(this.startMs).toISOString(),
      durationS: this.scenario.durationS,
      ...(this.hub ? { bleSimUrl: this.hub.url } : {}),
      devices,
      totals: {
        devices: devices.length, deadDevices: devices.filter((d) => d.diedAtS !== undefined).length,
        generated: sum('generated'), delivered: sum('delivered'), failed: sum('failed'), dropped: sum('dropped'), corrupted: sum('corrupted'), undeliverable: sum('undeliverable'),
      },
    };
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all(this.devs.map((d) => d.transport.close().catch(() => undefined)));
    await Promise.all([...this.links.values()].map((l) => l.close()));
    await this.hub?.close();
  }
}
