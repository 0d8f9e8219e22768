/**
 * The device end of a UART link: simulated firmware writing COBS frames to a serial port (a real
 * tty, or one end of a socat pseudo-terminal pair) and answering the gateway's time-sync requests
 * with its own clock, as real firmware would.
 */
import { SerialPortStream, type OpenOptions } from '@serialport/stream';
import {
  decodeFrame, encodeFrame, FrameSplitter, type ReadingBody, type StreamName, type UartFrame,
} from '@vitalgate/protocol';

export interface SerialLinkOptions {
  path: string;
  baudRate?: number;
  binding?: OpenOptions['binding'];
}

/** A device's clock: ms since it booted, plus any skew the scenario gives it. */
export type DeviceClockFn = () => number;

export class SerialLink {
  private readonly splitter = new FrameSplitter();
  private readonly clocks = new Map<string, DeviceClockFn>();
  private statusSeq = 0;
  timeSyncsAnswered = 0;
  bytesOut = 0;

  private constructor(private readonly port: SerialPortStream) {
    port.on('data', (chunk: Buffer) => {
      for (const enc of this.splitter.push(chunk)) {
        const d = decodeFrame(enc);
        if (d.ok && d.value.type === 'time-sync-request') this.answer(d.value);
      }
    });
  }

  static async open(o: SerialLinkOptions): Promise<SerialLink> {
    const binding = o.binding ?? ((await import('@serialport/bindings-cpp')).autoDetect() as unknown as OpenOptions['binding']);
    const port = new SerialPortStream({ binding, path: o.path, baudRate: o.baudRate ?? 115200, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(new Error(`cannot open serial port ${o.path}: ${e.message}`)) : resolve())));
    return new SerialLink(port);
  }

  /** Devices on this link answer time-sync requests addressed to them with this clock. */
  register(deviceId: string, clock: DeviceClockFn): void {
    this.clocks.set(deviceId, clock);
  }

  private answer(req: Extract<UartFrame, { type: 'time-sync-request' }>): void {
    const clock = this.clocks.get(req.deviceId);
    if (!clock) return;
    this.timeSyncsAnswered++;
    void this.write(encodeFrame({ type: 'time-sync-response', deviceId: req.deviceId, seq: this.statusSeq++ >>> 0, deviceTime: clock(), gatewayTime: req.gatewayTime }));
  }

  /** Writes raw bytes (a frame, or deliberate garbage from a fault scenario) and waits until they are handed to the OS. */
  write(bytes: Uint8Array): Promise<void> {
    this.bytesOut += bytes.length;
    return new Promise((resolve, reject) => {
      this.port.write(Buffer.from(bytes), (e) => (e ? reject(e) : this.port.drain((e2) => (e2 ? reject(e2) : resolve()))));
    });
  }

  /** The wire frame for a reading, stamped with the device's clock. */
  static readingFrame(deviceId: string, stream: StreamName, body: ReadingBody, deviceTime: number): Uint8Array {
    return 'samples' in body
      ? encodeFrame({ type: 'waveform', deviceId, seq: body.seq, deviceTime, stream, rate: body.rate, samples: body.samples })
      : encodeFrame({ type: 'scalar', deviceId, seq: body.seq, deviceTime, stream, values: body.values, ...(body.rr?.length ? { rr: body.rr } : {}) });
  }

  sendReading(deviceId: string, stream: StreamName, body: ReadingBody, deviceTime: number): Promise<void> {
    return this.write(SerialLink.readingFrame(deviceId, stream, body, deviceTime));
  }

  sendStatus(deviceId: string, s: { battery?: number; leadOff?: boolean; sensorError?: boolean; charging?: boolean; errorCode?: number }, deviceTime: number): Promise<void> {
    return this.write(encodeFrame({
      type: 'status', deviceId, seq: this.statusSeq++ >>> 0, deviceTime,
      ...(s.battery === undefined ? {} : { battery: s.battery }),
      leadOff: s.leadOff ?? false, sensorError: s.sensorError ?? false, charging: s.charging ?? false, errorCode: s.errorCode ?? 0,
    }));
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.port.isOpen ? this.port.close(() => resolve()) : resolve()));
  }
}
