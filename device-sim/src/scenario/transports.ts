/**
 * How a simulated device's readings leave it. Each transport reports what really went out, in the
 * form the receiver will decode it, so a run's sent log can be reconciled against the gateway:
 * MQTT counts a reading once the broker acknowledges it (PUBACK), serial once the bytes are handed
 * to the tty, BLE-sim once a subscribed central is sent the notification.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { encodeReadingAsGatt } from '@vitalgate/firmware-bridge';
import {
  encodeBody, readingTopic, statusTopic, type DeviceStatusReport, type PayloadEncoding, type ReadingBody, type StreamName,
} from '@vitalgate/protocol';
import { BleSimHub, type BleSimPeripheral } from '../transports/ble-sim-hub.js';
import { SerialLink } from '../transports/serial-link.js';

export type TransportKind = 'mqtt' | 'serial' | 'ble-sim';

/**
 * A copy of `frame` with one bit of byte `at` flipped on the line: bit 4, or bit 0 where bit 4
 * would make the byte a 0x00 delimiter, so the byte always changes and the receiver still
 * resynchronises at the next delimiter. (Keeping 0x10 as it was, instead, sent an intact frame
 * counted as corrupted, which the gateway then rightly stored.)
 */
export function flipOneBit(frame: Uint8Array, at: number): Uint8Array {
  const bad = frame.slice();
  const b = bad[at]!;
  bad[at] = (b ^ 0x10) === 0 ? b ^ 0x01 : b ^ 0x10;
  return bad;
}

export type SendResult =
  | { delivered: true; /** What the receiver decodes (after wire quantisation). */ received: ReadingBody }
  | { delivered: false; reason: string };

export type { DeviceStatusReport } from '@vitalgate/protocol';

export interface DeviceTransport {
  readonly kind: TransportKind;
  send(stream: StreamName, body: ReadingBody): Promise<SendResult>;
  /** Sends the reading with damaged bytes, which the receiver must reject. */
  sendCorrupt(stream: StreamName, body: ReadingBody): Promise<void>;
  sendStatus(s: DeviceStatusReport): Promise<void>;
  /** Drops the link (the device stays on and buffers). */
  drop(): Promise<void>;
  /** Resolves once the link can deliver again (connected, subscribed). */
  ready(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export class MqttTransport implements DeviceTransport {
  readonly kind = 'mqtt';
  private constructor(private readonly client: MqttClient, private readonly patientId: string, private readonly deviceId: string, private readonly encoding: PayloadEncoding) {}

  static async connect(url: string, patientId: string, deviceId: string, encoding: PayloadEncoding, auth: { username?: string; password?: string } = {}): Promise<MqttTransport> {
    const client = await mqtt.connectAsync(url, { clientId: deviceId, reconnectPeriod: 500, connectTimeout: 30_000, ...auth });
    return new MqttTransport(client, patientId, deviceId, encoding);
  }

  send(stream: StreamName, body: ReadingBody): Promise<SendResult> {
    return new Promise((resolve) => {
      this.client.publish(readingTopic(this.patientId, this.deviceId, stream), Buffer.from(encodeBody(body, this.encoding)), { qos: 1 }, (err) =>
        resolve(err ? { delivered: false, reason: err.message } : { delivered: true, received: body }));
    });
  }

  async sendCorrupt(stream: StreamName, body: ReadingBody): Promise<void> {
    const bytes = encodeBody(body, this.encoding);
    // Cut short, as a payload truncated by a buggy firmware buffer: never valid JSON or CBOR.
    await this.client.publishAsync(readingTopic(this.patientId, this.deviceId, stream), Buffer.from(bytes.subarray(0, Math.max(1, bytes.length - 3))), { qos: 1 });
  }

  async sendStatus(s: DeviceStatusReport): Promise<void> {
    await this.client.publishAsync(statusTopic(this.patientId, this.deviceId), JSON.stringify(s), { qos: 1, retain: true });
  }

  async drop(): Promise<void> {
    // The network goes away under the client; mqtt.js reconnects by itself, as firmware would.
    this.client.stream.destroy();
  }

  async ready(timeoutMs = 30_000): Promise<void> {
    const t0 = Date.now();
    while (!this.client.connected) {
      if (Date.now() - t0 > timeoutMs) throw new Error(`${this.deviceId}: broker not reachable within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  close(): Promise<void> {
    return this.client.endAsync();
  }
}

export class SerialTransport implements DeviceTransport {
  readonly kind = 'serial';
  constructor(private readonly link: SerialLink, private readonly deviceId: string, private readonly clock: () => number) {
    link.register(deviceId, clock);
  }

  /** The device clock time of a reading: its wall timestamp shifted by the device's skew. */
  private deviceTime(body: ReadingBody): number {
    return Math.max(0, body.ts + (this.clock() - Date.now()));
  }

  async send(stream: StreamName, body: ReadingBody): Promise<SendResult> {
    try {
      await this.link.sendReading(this.deviceId, stream, body, this.deviceTime(body));
      return { delivered: true, received: body };
    } catch (e) {
      return { delivered: false, reason: (e as Error).message };
    }
  }

  async sendCorrupt(stream: StreamName, body: ReadingBody): Promise<void> {
    const frame = SerialLink.readingFrame(this.deviceId, stream, body, this.deviceTime(body));
    await this.link.write(flipOneBit(frame, 1 + Math.floor(Math.random() * (frame.length - 2))));
  }

  async sendStatus(s: DeviceStatusReport): Promise<void> {
    await this.link.sendStatus(this.deviceId, s, this.clock());
  }

  async drop(): Promise<void> {
    // A UART has no connection to lose; the scenario just withholds bytes while "unplugged".
  }

  async ready(): Promise<void> {}

  async close(): Promise<void> {}
}

export class BleSimTransport implements DeviceTransport {
  readonly kind = 'ble-sim';
  constructor(private readonly peripheral: BleSimPeripheral, private readonly chars: string[]) {}

  ready(timeoutMs = 30_000): Promise<void> {
    return this.peripheral.waitSubscribed(this.chars, timeoutMs);
  }

  static serviceFor(stream: StreamName): string | undefined {
    return ({ hr: '180d', temp: '1809', spo2: '1822', bp: '1810', glucose: '1808' } as Partial<Record<StreamName, string>>)[stream];
  }

  static charFor(stream: StreamName): string | undefined {
    return ({ hr: '2a37', temp: '2a1c', spo2: '2a5f', bp: '2a35', glucose: '2a18' } as Partial<Record<StreamName, string>>)[stream];
  }

  async send(stream: StreamName, body: ReadingBody): Promise<SendResult> {
    const m = encodeReadingAsGatt(stream, body);
    if (!m) return { delivered: false, reason: `GATT has no characteristic for ${stream}` };
    if (!this.peripheral.notify(m.characteristic, m.bytes)) return { delivered: false, reason: 'no central subscribed' };
    return { delivered: true, received: { seq: body.seq, ts: body.ts, values: m.values, ...(m.rr ? { rr: m.rr } : {}) } };
  }

  async sendCorrupt(stream: StreamName, body: ReadingBody): Promise<void> {
    const m = encodeReadingAsGatt(stream, body);
    // Drop the last byte: the flags then announce a field that is not there.
    if (m) this.peripheral.notify(m.characteristic, m.bytes.subarray(0, m.bytes.length - 1));
  }

  async sendStatus(): Promise<void> {
    // Battery Service (0x180F) is not one of the health services a gateway subscribes to.
  }

  async drop(): Promise<void> {
    this.peripheral.disconnect();
    setTimeout(() => this.peripheral.advertise(), 200);
  }

  async close(): Promise<void> {}
}

export { BleSimHub };
