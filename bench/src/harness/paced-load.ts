/**
 * Paced load: N devices, each its own MQTT connection on a raw socket, publishing the mixed profile
 * at its real rates (device-sim's schedule, taken from load.ts's ten-second templates) at QoS 1. A
 * reading is sent when it is due on the wall clock, with ts = its real time, unless the device
 * already has `window` publishes unacknowledged: then it waits, as a real device with a bounded
 * queue would, and the wait shows as publish lag. So a slow broker or gateway slows the devices
 * down instead of the bench piling up unbounded work.
 *
 * Every packet is pre-generated per device and template (mqtt-wire.ts) and only copied and patched
 * here, and one timer serves every device, so the generator stays cheap enough not to take the CPU
 * the processes under test need.
 */
import { connect, type Socket } from 'node:net';
import { decodePayload, readingTopic, type StreamName } from '@vitalgate/protocol';
import { Histogram, Ledger, dueAt } from './ledger.js';
import { makeTemplates, SEQ_BASE } from './load.js';
import { connectPacket, InboundParser, PINGREQ, publishLength, topicField, writePublish } from './mqtt-wire.js';

/** The templates span ten seconds of one device; the schedule repeats them. */
export const CYCLE_MS = 10_000;
const TICK_MS = 10;
const KEEPALIVE_S = 60;
const DISCONNECT = Buffer.from([0xe0, 0x00]);
const READ_BUFFER = Buffer.alloc(64 * 1024);

export interface ScheduleEntry {
  stream: StreamName;
  /** Start of the reading (its ts) and when it is complete (due), relative to the cycle's start. */
  tsRel: number;
  dueRel: number;
  /** The CBOR body, seq and ts to be patched at these offsets. */
  bytes: Buffer;
  seqOff: number;
  tsOff: number;
}

/** Ten seconds of a mixed-profile device in the order it sends them (by due time). */
export function mixedSchedule(): ScheduleEntry[] {
  const start = Date.UTC(2025, 0, 1);
  // The templates end with the readings taken at exactly +10 s, which are the next cycle's first.
  const out = makeTemplates(start).filter((t) => t.tsRel < CYCLE_MS).map((t) => {
    const d = decodePayload(t.stream, t.bytes);
    if (!d.ok) throw new Error(`template of ${t.stream} does not decode: ${d.reason}`);
    return { stream: t.stream, tsRel: t.tsRel, dueRel: dueAt(t.stream, d.value.body) - start, bytes: t.bytes, seqOff: t.seqOff, tsOff: t.tsOff };
  });
  return out.sort((a, b) => a.dueRel - b.dueRel);
}

/** Device ids and patient ids as the simulator names them (one device per patient). */
export function pacedIds(devices: number): { deviceIds: string[]; patientIds: string[] } {
  const width = Math.max(4, String(devices).length);
  const num = (i: number) => String(i + 1).padStart(width, '0');
  return {
    deviceIds: Array.from({ length: devices }, (_, i) => `sim-${num(i)}`),
    patientIds: Array.from({ length: devices }, (_, i) => `patient-${num(i)}`),
  };
}

export interface PacedLoadOptions {
  host: string;
  port: number;
  devices: number;
  seconds: number;
  /** Unacknowledged publishes a device may have (default 64). */
  window?: number;
  /** Connections being opened at once (default 50). */
  connectConcurrency?: number;
}

export interface PacedStats {
  published: number;
  acked: number;
  failed: number;
  inFlight: number;
  disconnects: number;
}

export interface PacedResult extends PacedStats {
  devices: number;
  seconds: number;
  /** Readings the schedule had due during the run, and how many were never sent (devices behind). */
  due: number;
  unsent: number;
  offeredPerSec: number;
  publishStartedAt: number;
  publishEndedAt: number;
  /** Publish → PUBACK, ms. */
  pubackRtt: { p50: number | null; p99: number | null; max: number | null };
  /** Written to the socket − due; readings still unsent at the end count with their lag then. */
  publishLag: { p50: number | null; p99: number | null; max: number | null };
  /** This process's CPU while publishing, % of one core (the generator and the bench's bookkeeping). */
  cpuPercent: number;
  /** The part of cpuPercent spent in the kernel (socket writes and reads on loopback). */
  cpuSystemPercent: number;
}

class Device {
  sock!: Socket;
  alive = false;
  /** Publications made so far; publication n uses schedule entry n % T and seq SEQ_BASE + n. */
  n = 0;
  nextDue = Infinity;
  inFlight = 0;
  lastWriteAt = 0;
  /** Per packet id slot: publication index in flight there (-1 none) and when it was written. */
  readonly slotN: Int32Array;
  readonly slotAt: Float64Array;

  /** `topics[s]`: the wire topic of stream s (PacedLoad's stream order). */
  constructor(readonly i: number, readonly id: string, readonly topics: Buffer[], readonly offset: number, slots: number) {
    this.slotN = new Int32Array(slots).fill(-1);
    this.slotAt = new Float64Array(slots);
  }
}

export class PacedLoad {
  readonly ledger = new Ledger(SEQ_BASE);
  readonly rtt = new Histogram(600_000);
  readonly lag = new Histogram(600_000);
  private readonly schedule: ScheduleEntry[];
  /** Per schedule entry, its stream's index in `streams`. */
  private readonly streamOf: Uint8Array;
  private readonly devs: Device[] = [];
  private readonly window: number;
  private readonly slots: number;
  private readonly s: PacedStats = { published: 0, acked: 0, failed: 0, inFlight: 0, disconnects: 0 };
  private t0 = 0;
  private stopAt = 0;
  private readonly maxBurst: Buffer;
  private tick: NodeJS.Timeout | undefined;
  private ping: NodeJS.Timeout | undefined;
  private onIdle: (() => void) | undefined;
  private unexpected = 0;

  constructor(readonly opts: PacedLoadOptions) {
    this.schedule = mixedSchedule();
    this.window = opts.window ?? 64;
    // Packet ids cycle through twice the window, so an id is never reused while its PUBLISH is unacknowledged.
    this.slots = 1 << Math.ceil(Math.log2(this.window * 2));
    if (this.slots > 65_535) throw new Error('window too large for 16-bit packet ids');
    const { deviceIds, patientIds } = pacedIds(opts.devices);
    const streams = [...new Set(this.schedule.map((e) => e.stream))];
    this.streamOf = Uint8Array.from(this.schedule, (e) => streams.indexOf(e.stream));
    let maxPacket = 0;
    for (let i = 0; i < opts.devices; i++) {
      const topics = streams.map((st) => topicField(readingTopic(patientIds[i]!, deviceIds[i]!, st)));
      for (const e of this.schedule) maxPacket = Math.max(maxPacket, publishLength(topics[streams.indexOf(e.stream)]!, e));
      // Spread over the first second so that the fleet's ECG frames do not all land on the same tick.
      this.devs.push(new Device(i, deviceIds[i]!, topics, Math.floor((i * 1000) / opts.devices), this.slots));
    }
    this.maxBurst = Buffer.allocUnsafe(maxPacket * this.window);
  }

  /** Readings per second the fleet offers on schedule. */
  get offeredPerSec(): number {
    return (this.opts.devices * this.schedule.length * 1000) / CYCLE_MS;
  }

  stats(): PacedStats {
    return { ...this.s };
  }

  /** Current publish lag of the device furthest behind (ms). */
  worstLagNow(): number {
    const now = Date.now();
    let worst = 0;
    for (const d of this.devs) if (d.alive && d.nextDue < now && d.nextDue < this.stopAt && now - d.nextDue > worst) worst = now - d.nextDue;
    return worst;
  }

  /** Opens every connection (at most connectConcurrency at once) and waits for each CONNACK. */
  async connect(onProgress?: (n: number) => void): Promise<void> {
    let next = 0;
    let done = 0;
    const worker = async () => {
      while (next < this.devs.length) {
        const d = this.devs[next++]!;
        await this.open(d);
        onProgress?.(++done);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.connectConcurrency ?? 50, this.devs.length) }, worker));
  }

  private open(d: Device): Promise<void> {
    return new Promise((resolve, reject) => {
      let connected = false;
      const parser = new InboundParser({
        connack: (rc) => {
          if (connected) return;
          if (rc !== 0) return fail(new Error(`device ${d.id}: CONNACK return code ${rc}`));
          connected = true;
          d.alive = true;
          clearTimeout(timer);
          resolve();
        },
        puback: (id) => this.puback(d, id),
        pingresp: () => undefined,
        other: () => void this.unexpected++,
      });
      // Read into one shared buffer, bypassing the readable stream: the parser copies what it keeps,
      // and a Buffer and a 'data' event per PUBACK cost more than the rest of the generator.
      const sock = connect({ host: this.opts.host, port: this.opts.port, noDelay: true, onread: { buffer: READ_BUFFER, callback: (n) => (parser.push(READ_BUFFER.subarray(0, n)), true) } });
      d.sock = sock;
      const timer = setTimeout(() => fail(new Error(`device ${d.id}: no CONNACK within 30 s`)), 30_000);
      const fail = (e: Error) => {
        clearTimeout(timer);
        sock.destroy();
        reject(e);
      };
      sock.on('error', (e) => (connected ? undefined : fail(e)));
      sock.on('close', () => {
        if (connected) this.lost(d);
        else fail(new Error(`device ${d.id}: connection closed before CONNACK`));
      });
      sock.on('connect', () => sock.write(connectPacket(d.id, KEEPALIVE_S)));
    });
  }

  private due(d: Device, n: number): number {
    const T = this.schedule.length;
    return this.t0 + d.offset + Math.floor(n / T) * CYCLE_MS + this.schedule[n % T]!.dueRel;
  }

  /** Publishes on schedule for `seconds`, then waits (up to `ackTimeoutMs`) for the outstanding PUBACKs. */
  async run(ackTimeoutMs = 60_000): Promise<PacedResult> {
    const cpu0 = process.cpuUsage();
    this.t0 = Date.now();
    this.stopAt = this.t0 + this.opts.seconds * 1000;
    for (const d of this.devs) d.nextDue = this.due(d, 0);
    this.tick = setInterval(() => this.onTick(), TICK_MS);
    this.ping = setInterval(() => {
      const quiet = Date.now() - (KEEPALIVE_S * 1000) / 2;
      for (const d of this.devs) if (d.alive && d.lastWriteAt < quiet) {
        d.lastWriteAt = Date.now();
        d.sock.write(PINGREQ);
      }
    }, 5000);
    await new Promise<void>((r) => setTimeout(r, this.stopAt - Date.now() + TICK_MS));
    clearInterval(this.tick);
    const publishEndedAt = Date.now();
    const cpu = process.cpuUsage(cpu0);
    const pctOfCore = (us: number) => Math.round((us / 1000 / (publishEndedAt - this.t0)) * 1000) / 10;
    const cpuPercent = pctOfCore(cpu.user + cpu.system);

    // What the schedule had due but the devices never got to send: they were that far behind.
    let due = 0;
    let unsent = 0;
    for (const d of this.devs) {
      let n = d.n;
      for (let t = this.due(d, n); t < this.stopAt; t = this.due(d, ++n)) this.lag.add(publishEndedAt - t);
      due += n;
      unsent += n - d.n;
    }

    if (this.s.inFlight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ackTimeoutMs);
        this.onIdle = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.onIdle = undefined;
    }
    clearInterval(this.ping);
    // Still unacknowledged after the timeout: failed, as a device would give up on them.
    for (const d of this.devs) this.failInFlight(d);
    const pct = (h: Histogram) => ({ p50: h.percentile(50), p99: h.percentile(99), max: h.count ? Math.round(h.max) : null });
    return {
      ...this.s,
      devices: this.opts.devices,
      seconds: this.opts.seconds,
      due,
      unsent,
      // What the schedule had due in the run (the staggered starts make it a little under the nominal rate).
      offeredPerSec: Math.round((due / this.opts.seconds) * 10) / 10,
      publishStartedAt: this.t0,
      publishEndedAt,
      pubackRtt: pct(this.rtt),
      publishLag: pct(this.lag),
      cpuPercent,
      cpuSystemPercent: pctOfCore(cpu.system),
    };
  }

  private onTick(): void {
    const now = Date.now();
    for (const d of this.devs) if (d.nextDue <= now && d.alive) this.pump(d, now);
  }

  /** Sends whatever is due and fits in the window, as one write. */
  private pump(d: Device, now: number): void {
    const T = this.schedule.length;
    let len = 0;
    while (d.inFlight < this.window && d.nextDue <= now && d.nextDue < this.stopAt) {
      const n = d.n;
      const slot = n & (this.slots - 1);
      // Acknowledged out of order, an old publish may still hold this id: wait for it.
      if (d.slotN[slot]! >= 0) break;
      const k = n % T;
      const ts = this.t0 + d.offset + Math.floor(n / T) * CYCLE_MS + this.schedule[k]!.tsRel;
      len += writePublish(d.topics[this.streamOf[k]!]!, this.schedule[k]!, this.maxBurst, len, slot + 1, SEQ_BASE + n, ts);
      d.slotN[slot] = n;
      d.slotAt[slot] = now;
      this.lag.add(now - d.nextDue);
      d.inFlight++;
      this.s.inFlight++;
      this.s.published++;
      d.n = n + 1;
      d.nextDue = this.due(d, d.n);
    }
    if (len > 0) {
      // A copy: maxBurst is reused at once, the socket may hold on to what it was given.
      d.sock.write(Buffer.from(this.maxBurst.subarray(0, len)));
      d.lastWriteAt = now;
    }
  }

  private puback(d: Device, id: number): void {
    const slot = id - 1;
    const n = slot >= 0 && slot < this.slots ? d.slotN[slot]! : -1;
    if (n < 0) {
      this.unexpected++;
      return;
    }
    const now = Date.now();
    d.slotN[slot] = -1;
    d.inFlight--;
    this.s.inFlight--;
    this.s.acked++;
    const at = d.slotAt[slot]!;
    this.rtt.add(now - at);
    this.ledger.ack(d.id, this.schedule[n % this.schedule.length]!.stream, SEQ_BASE + n, at, this.due(d, n));
    if (d.nextDue <= now) this.pump(d, now);
    if (this.s.inFlight === 0) this.onIdle?.();
  }

  /** A connection that dropped: what it had in flight is failed (clean session, no redelivery). */
  private lost(d: Device): void {
    if (!d.alive) return;
    d.alive = false;
    this.s.disconnects++;
    this.failInFlight(d);
    if (this.s.inFlight === 0) this.onIdle?.();
  }

  /** Its unacknowledged publishes count as failed, as a device would give up on them. */
  private failInFlight(d: Device): void {
    for (let s = 0; s < this.slots; s++) {
      const n = d.slotN[s]!;
      if (n < 0) continue;
      d.slotN[s] = -1;
      this.ledger.fail(d.id, SEQ_BASE + n);
      this.s.failed++;
      this.s.inFlight--;
      d.inFlight--;
    }
  }

  /** Packets the devices did not expect (a PUBACK for no publish in flight, anything but the three). */
  get unexpectedPackets(): number {
    return this.unexpected;
  }

  async close(): Promise<void> {
    clearInterval(this.tick);
    clearInterval(this.ping);
    await Promise.all(this.devs.map((d) => new Promise<void>((resolve) => {
      if (!d.sock || d.sock.destroyed) return resolve();
      d.alive = false;
      d.sock.once('close', () => resolve());
      d.sock.end(DISCONNECT);
      setTimeout(() => {
        d.sock.destroy();
        resolve();
      }, 2000).unref();
    })));
  }
}
