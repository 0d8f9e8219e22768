/**
 * Readings from BLE health devices: every peripheral offering a standard health service is
 * subscribed to its measurement characteristics; each notification goes through the GATT decoders
 * and becomes readings for the sink.
 *
 * GATT measurements carry no sequence number, so the source numbers them: seq is the arrival time
 * in ms, bumped to stay strictly increasing per device. That stays unique across gateway restarts,
 * where a counter from zero would collide with the readings already sealed.
 *
 * Only the patient's own peripherals: a radio hears every strap in range, and a neighbour's strap
 * would otherwise write into this patient's record. With `allow`, a peripheral whose address is not
 * in it is never subscribed; it is counted (`ignored`) and, once, logged.
 */
import type { Logger } from 'pino';
import { isValidId } from '@vitalgate/protocol';
import { decodeGatt, gattToReadings } from '../gatt/index.js';
import type { ReadingSink } from '../reading-sink.js';
import { HEALTH_SERVICES, type BleCentral, type BlePeripheral } from './peripheral.js';

export interface BleSourceOptions {
  central: BleCentral;
  patientId: string;
  /**
   * Addresses (or ids) of the patient's own peripherals, compared without case or separators
   * ("C8:4B:00:11:22:33" = "c84b00112233"). Absent: every health peripheral in range is taken.
   */
  allow?: readonly string[];
  logger?: Logger;
}

/** An address without case or separators, so "C8:4B:…" and "c8-4b-…" name one peripheral. */
export const normalizeBleAddress = (id: string): string => id.toLowerCase().replace(/[^0-9a-z]/g, '');

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
  /** Times a peripheral outside the allowlist showed up (advertised or notified), by address. */
  ignored: Record<string, number>;
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
  private readonly allow: Set<string> | undefined;
  private readonly ignored = new Map<string, number>();

  constructor(readonly opts: BleSourceOptions) {
    this.allow = opts.allow ? new Set(opts.allow.map(normalizeBleAddress)) : undefined;
  }

  /** Whether `id` is one of the patient's peripherals; counts (and logs once) those that are not. */
  private admits(id: string): boolean {
    if (!this.allow || this.allow.has(normalizeBleAddress(id))) return true;
    const n = (this.ignored.get(id) ?? 0) + 1;
    this.ignored.set(id, Math.min(n, Number.MAX_SAFE_INTEGER));
    if (n === 1) this.opts.logger?.warn({ peripheral: id.slice(0, 64), patientId: this.opts.patientId }, 'ignoring a BLE peripheral that is not on this patient\'s allowlist');
    return false;
  }

  async start(sink: ReadingSink): Promise<void> {
    this.sink = sink;
    await this.opts.central.start(Object.keys(HEALTH_SERVICES), (p) => void this.attach(p));
  }

  private async attach(p: BlePeripheral): Promise<void> {
    if (!this.admits(p.id)) return;
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
        await p.subscribe(c, (value) => {
          if (this.admits(p.id)) this.onValue(deviceId, c, value, st);
        });
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
    return { ...this.s, ignored: Object.fromEntries(this.ignored), peripherals: Object.fromEntries([...this.peripherals].map(([k, v]) => [k, { ...v, services: [...v.services] }])) };
  }

  stop(): Promise<void> {
    return this.opts.central.stop();
  }
}
