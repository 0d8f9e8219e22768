/**
 * Reads UART firmware frames from a serial device path and hands their readings to a sink.
 *
 * A serial line is noisy and devices come and go, so this source expects trouble: frames that fail
 * COBS or CRC are counted and skipped (the next 0x00 realigns the stream), buffers are bounded, and
 * a port that errors or disappears is reopened with exponential backoff. status() says all of it.
 * It also runs the time-sync handshake with every device it hears, to put device time on the wall clock.
 */
import { EventEmitter } from 'node:events';
import { SerialPortStream, type OpenOptions } from '@serialport/stream';
import type { Logger } from 'pino';
import { decodeFrame, encodeFrame, FrameSplitter, type UartFrame } from '@vitalgate/protocol';
import type { ReadingSink } from '../reading-sink.js';

export type SerialBinding = OpenOptions['binding'];
import { DeviceClock, type ClockEstimate } from './device-clock.js';
import { frameToReading } from './frame-reading.js';


export interface SerialSourceOptions {
  path: string;
  /** The patient wearing the devices on this port. */
  patientId: string;
  baudRate?: number;
  /** Serial bindings; default: the platform's real ones from @serialport/bindings-cpp. */
  binding?: SerialBinding;
  timeSyncIntervalMs?: number;
  /**
   * Readings from a device whose clock is not yet mapped within `goodSyncMs` are held (up to this
   * long) while quick handshakes are retried, so early readings get wall times as good as later
   * ones. Default 3000 ms.
   */
  holdForClockMs?: number;
  /** A handshake at most this uncertain (half its round trip) counts as good. Default 25 ms. */
  goodSyncMs?: number;
  reopenMinMs?: number;
  reopenMaxMs?: number;
  logger?: Logger;
}

export interface SerialDeviceStatus {
  frames: number;
  lastSeq?: number;
  battery?: number;
  leadOff?: boolean;
  sensorError?: boolean;
  charging?: boolean;
  errorCode?: number;
  clock?: ClockEstimate;
}

export interface SerialSourceStatus {
  path: string;
  open: boolean;
  opens: number;
  reopenAttempts: number;
  lastError?: string;
  bytesIn: number;
  frames: number;
  readings: number;
  badFrames: number;
  badFramesByReason: Record<string, number>;
  oversizeRuns: number;
  timeSyncsSent: number;
  /** Readings waiting for their device's clock to be mapped. */
  heldReadings: number;
  devices: Record<string, SerialDeviceStatus>;
}

export interface SerialSourceEvents {
  frame: [frame: UartFrame];
  badFrame: [reason: string];
  open: [];
  close: [reason: string];
}

async function defaultBinding(): Promise<SerialBinding> {
  const { autoDetect } = await import('@serialport/bindings-cpp');
  return autoDetect() as unknown as SerialBinding;
}

const reasonKey = (r: string) => r.replace(/[0-9].*$/, '').replace(/:.*$/, '').trim().slice(0, 40);

export class SerialSource extends EventEmitter<SerialSourceEvents> {
  private port: SerialPortStream | undefined;
  private sink: ReadingSink | undefined;
  private readonly splitter = new FrameSplitter();
  private readonly clocks = new Map<string, DeviceClock>();
  private readonly devices = new Map<string, SerialDeviceStatus>();
  /** Reading frames waiting for a good clock mapping, per device, with when the wait began. */
  private readonly held = new Map<string, { since: number; frames: Array<{ f: UartFrame; at: number }> }>();
  private static readonly MAX_HELD_FRAMES = 5000;
  private syncTimer: NodeJS.Timeout | undefined;
  private pendingTimer: NodeJS.Timeout | undefined;
  private reopenTimer: NodeJS.Timeout | undefined;
  private backoff: number;
  private stopped = false;
  private syncSeq = 0;
  private readonly s = {
    opens: 0, reopenAttempts: 0, bytesIn: 0, frames: 0, readings: 0, badFrames: 0,
    badFramesByReason: {} as Record<string, number>, timeSyncsSent: 0, lastError: undefined as string | undefined,
  };

  constructor(readonly opts: SerialSourceOptions) {
    super();
    this.backoff = opts.reopenMinMs ?? 200;
  }

  /** Starts reading. Resolves after the first open attempt; a failed open keeps retrying. */
  async start(sink: ReadingSink): Promise<void> {
    this.sink = sink;
    this.stopped = false;
    await this.open();
    this.syncTimer = setInterval(() => this.syncAll(), this.opts.timeSyncIntervalMs ?? 5000);
    this.syncTimer.unref();
    this.pendingTimer = setInterval(() => this.syncPending(), 150);
    this.pendingTimer.unref();
  }

  private async open(): Promise<void> {
    if (this.stopped) return;
    const binding = this.opts.binding ?? (await defaultBinding());
    const port = new SerialPortStream({ binding, path: this.opts.path, baudRate: this.opts.baudRate ?? 115200, autoOpen: false });
    await new Promise<void>((resolve) => {
      port.open((err) => {
        if (err) {
          this.s.lastError = err.message;
          this.opts.logger?.warn({ path: this.opts.path, err: err.message, retryInMs: this.backoff }, 'serial port open failed');
          this.scheduleReopen();
          resolve();
          return;
        }
        this.port = port;
        this.s.opens++;
        this.backoff = this.opts.reopenMinMs ?? 200;
        this.splitter.reset();
        port.on('data', (chunk: Buffer) => this.onData(chunk));
        port.on('error', (e: Error) => {
          this.s.lastError = e.message;
          this.opts.logger?.warn({ path: this.opts.path, err: e.message }, 'serial port error');
        });
        port.on('close', () => this.onClose());
        this.opts.logger?.info({ path: this.opts.path }, 'serial port open');
        this.emit('open');
        this.syncAll();
        resolve();
      });
    });
  }

  private onClose(): void {
    this.port = undefined;
    // A frame cut off by the disconnect is incomplete: drop it rather than glue it to the next one.
    this.splitter.reset();
    if (this.stopped) return;
    this.opts.logger?.warn({ path: this.opts.path, retryInMs: this.backoff }, 'serial port closed; reopening');
    this.emit('close', 'port closed');
    this.scheduleReopen();
  }

  private scheduleReopen(): void {
    if (this.stopped || this.reopenTimer) return;
    const delay = this.backoff;
    this.backoff = Math.min(this.backoff * 2, this.opts.reopenMaxMs ?? 10_000);
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = undefined;
      this.s.reopenAttempts++;
      void this.open();
    }, delay);
  }

  private bad(reason: string): void {
    this.s.badFrames++;
    const k = reasonKey(reason);
    this.s.badFramesByReason[k] = (this.s.badFramesByReason[k] ?? 0) + 1;
    this.emit('badFrame', reason);
  }

  private onData(chunk: Buffer): void {
    this.s.bytesIn += chunk.length;
    const now = Date.now();
    for (const enc of this.splitter.push(chunk)) {
      const d = decodeFrame(enc);
      if (!d.ok) {
        this.bad(d.reason);
        continue;
      }
      this.onFrame(d.value, now);
    }
  }

  private clockOf(deviceId: string): DeviceClock {
    let c = this.clocks.get(deviceId);
    if (!c) {
      c = new DeviceClock();
      this.clocks.set(deviceId, c);
      this.devices.set(deviceId, { frames: 0 });
      this.sendSync(deviceId);
    }
    return c;
  }

  private onFrame(f: UartFrame, now: number): void {
    this.s.frames++;
    this.emit('frame', f);
    const clock = this.clockOf(f.deviceId);
    const dev = this.devices.get(f.deviceId)!;
    dev.frames++;
    switch (f.type) {
      case 'time-sync-response':
        clock.observeHandshake(f.gatewayTime, f.deviceTime, now);
        dev.clock = clock.estimate;
        if (this.clockGood(clock)) this.release(f.deviceId);
        return;
      case 'time-sync-request':
        return this.bad('time-sync request from a device (only the gateway asks)');
      case 'status':
        Object.assign(dev, { battery: f.battery, leadOff: f.leadOff, sensorError: f.sensorError, charging: f.charging, errorCode: f.errorCode });
        if (f.leadOff || f.sensorError) this.opts.logger?.warn({ deviceId: f.deviceId, leadOff: f.leadOff, sensorError: f.sensorError, errorCode: f.errorCode }, 'device reports a sensor problem');
        this.sink?.acceptStatus?.(this.opts.patientId, f.deviceId, { ...(f.battery !== undefined && { battery: f.battery }), leadOff: f.leadOff, sensorError: f.sensorError }, now);
        return;
      default: {
        clock.observeArrival(f.deviceTime, now);
        dev.clock = clock.estimate;
        dev.lastSeq = f.seq;
        let h = this.held.get(f.deviceId);
        if (!this.clockGood(clock) && (h === undefined || now - h.since < (this.opts.holdForClockMs ?? 3000))) {
          if (!h) this.held.set(f.deviceId, (h = { since: now, frames: [] }));
          if (h.frames.length < SerialSource.MAX_HELD_FRAMES) {
            h.frames.push({ f, at: now });
            return;
          }
        }
        this.release(f.deviceId);
        this.emitReading(f, clock, now);
      }
    }
  }

  private clockGood(c: DeviceClock): boolean {
    const e = c.estimate;
    return e?.source === 'handshake' && e.uncertaintyMs <= (this.opts.goodSyncMs ?? 25);
  }

  private emitReading(f: UartFrame, clock: DeviceClock, at: number): void {
    const r = frameToReading(f, clock.toWall(f.deviceTime)!);
    if (!r.ok) return this.bad(r.reason);
    this.s.readings++;
    this.sink?.acceptReading(this.opts.patientId, f.deviceId, r.value.stream, r.value.body, at, `serial:${this.opts.path}/${f.deviceId}`);
  }

  /** Hands over a device's held readings, mapped with the best clock estimate there is now. */
  private release(deviceId: string): void {
    const h = this.held.get(deviceId);
    if (!h) return;
    this.held.delete(deviceId);
    const clock = this.clocks.get(deviceId)!;
    for (const { f, at } of h.frames) this.emitReading(f, clock, at);
  }

  private sendSync(deviceId: string): void {
    const port = this.port;
    if (!port) return;
    const frame = encodeFrame({ type: 'time-sync-request', deviceId, seq: this.syncSeq++ >>> 0, deviceTime: 0, gatewayTime: Date.now() });
    port.write(Buffer.from(frame));
    this.s.timeSyncsSent++;
  }

  private syncAll(): void {
    for (const id of this.clocks.keys()) this.sendSync(id);
  }

  /** Devices still waiting for a good mapping are asked again soon; held readings past their wait are released. */
  private syncPending(): void {
    const now = Date.now();
    for (const [id, h] of this.held) {
      if (now - h.since >= (this.opts.holdForClockMs ?? 3000)) this.release(id);
      else this.sendSync(id);
    }
  }

  status(): SerialSourceStatus {
    return {
      path: this.opts.path,
      open: this.port?.isOpen ?? false,
      ...this.s,
      badFramesByReason: { ...this.s.badFramesByReason },
      oversizeRuns: this.splitter.oversize,
      heldReadings: [...this.held.values()].reduce((n, h) => n + h.frames.length, 0),
      devices: Object.fromEntries([...this.devices].map(([k, v]) => [k, { ...v }])),
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.syncTimer);
    clearInterval(this.pendingTimer);
    // Nothing is lost at shutdown: held readings go out with the best mapping there is.
    for (const id of [...this.held.keys()]) this.release(id);
    clearTimeout(this.reopenTimer);
    this.reopenTimer = undefined;
    const port = this.port;
    this.port = undefined;
    if (port?.isOpen) await new Promise<void>((r) => port.close(() => r()));
  }
}
