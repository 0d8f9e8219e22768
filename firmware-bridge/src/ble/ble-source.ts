/**
 * Readings from BLE health devices: every peripheral offering a standard health service is
 * subscribed to its measurement characteristics; each notification goes through the GATT decoders
 * and becomes readings for the sink.
 *
 * GATT measurements carry no sequence number, so the source numbers them: seq is the arrival time
 * in ms, bumped to stay strictly increasing per device. That stays unique across gateway restarts,
 * where a counter from zero would collide with the readings already sealed.
 */
import type { Logger } from 'pino';
import { isValidId } from '@vitalgate/protocol';
import { decodeGatt, gattToReadings } from '../gatt/index.js';
import type { ReadingSink } from '../reading-sink.js';
import { HEALTH_SERVICES, type BleCentral, type BlePeripheral } from './peripheral.js';

export interface BleSourceOptions {
  central: BleCentral;
  patientId: string;
  logger?: Logger;
}

export interface BlePeripheralStatus {
  name: string;
  services: string[];
  connected: boolean;
  connects: number;
  notifications: number;
  readings: number;
  decodeErrors: number;
  lastError?: string;
  /** Values the device sent as IEEE-11073 specials (NaN, NRes, ±INF): absent, never a number. */
  absentValues: number;
}

export interface BleSourceStatus {
  notifications: number;
  readings: number;
  decodeErrors: number;
  peripherals: Record<string, BlePeripheralStatus>;
}

/** BLE addresses ("C8:4B:…") are not valid ids; keep their hex digits. */
export function bleDeviceId(peripheralId: string): string {
  if (isValidId(peripheralId)) return peripheralId;
  return `ble-${peripheralId.toLowerCase().replace(/[^0-9a-z]/g, '').slice(0, 60) || 'unknown'}`;
}

export class BleSource {
  private sink: ReadingSink | undefined;
  private readonly peripherals = new Map<string, BlePeripheralStatus>();
  private readonly lastSeq = new Map<string, number>();
  private readonly s = { notifications: 0, readings: 0, decodeErrors: 0 };

  constructor(readonly opts: BleSourceOptions) {}

  async start(sink: ReadingSink): Promise<void> {
    this.sink = sink;
    await this.opts.central.start(Object.keys(HEALTH_SERVICES), (p) => void this.attach(p));
  }

  private async attach(p: BlePeripheral): Promise<void> {
    const deviceId = bleDeviceId(p.id);
    let st = this.peripherals.get(deviceId);
    if (!st) {
      st = { name: p.name, services: [...p.services], connected: false, connects: 0, notifications: 0, readings: 0, decodeErrors: 0, absentValues: 0 };
      this.peripherals.set(deviceId, st);
    }
    st.connected = true;
    st.connects++;
    p.onDisconnect(() => {
      st.connected = false;
      this.opts.logger?.warn({ deviceId }, 'BLE peripheral disconnected; waiting for it to advertise again');
    });
    const chars = p.services.flatMap((s) => HEALTH_SERVICES[s]?.measurements ?? []);
    for (const c of chars) {
      try {
        await p.subscribe(c, (value) => this.onValue(deviceId, c, value, st));
      } catch (e) {
        st.lastError = `subscribe ${c}: ${(e as Error).message}`;
        this.opts.logger?.warn({ deviceId, characteristic: c, err: (e as Error).message }, 'BLE subscribe failed');
      }
    }
    this.opts.logger?.info({ deviceId, name: p.name, characteristics: chars }, 'BLE peripheral subscribed');
  }

  private nextSeq(deviceId: string, now: number): number {
    const seq = Math.max((this.lastSeq.get(deviceId) ?? -1) + 1, now);
    this.lastSeq.set(deviceId, seq);
    return seq;
  }

  private onValue(deviceId: string, characteristic: string, value: Uint8Array, st: BlePeripheralStatus): void {
    const now = Date.now();
    this.s.notifications++;
    st.notifications++;
    const d = decodeGatt(characteristic, value);
    if (!d.ok) {
      this.s.decodeErrors++;
      st.decodeErrors++;
      st.lastError = d.reason;
      this.opts.logger?.warn({ deviceId, characteristic, reason: d.reason }, 'rejected BLE notification');
      return;
    }
    const { readings, absent } = gattToReadings(d.value, { seq: this.nextSeq(deviceId, now), ts: now });
    st.absentValues += absent.length;
    for (const [i, r] of readings.entries()) {
      if (i > 0) r.body.seq = this.nextSeq(deviceId, now);
      this.s.readings++;
      st.readings++;
      this.sink?.acceptReading(this.opts.patientId, deviceId, r.stream, r.body, now, `ble:${deviceId}/${characteristic}`);
    }
  }

  status(): BleSourceStatus {
    return { ...this.s, peripherals: Object.fromEntries([...this.peripherals].map(([k, v]) => [k, { ...v, services: [...v.services] }])) };
  }

  stop(): Promise<void> {
    return this.opts.central.stop();
  }
}
