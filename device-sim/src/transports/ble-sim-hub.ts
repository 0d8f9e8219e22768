/**
 * The simulator's side of the BLE-sim link (protocol's ble-sim-wire): simulated peripherals
 * advertise through this hub and send raw GATT notification bytes to whichever gateway "central"
 * is connected and has subscribed. As over a real radio, a notification nobody subscribed to is
 * not delivered, and notify() says so, so a run's report counts only what really went out.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { bytesToHex } from '@noble/hashes/utils.js';
import { encodeBleSimMessage, parseBleSimMessage } from '@vitalgate/protocol';

export interface SimPeripheralInfo { id: string; name: string; services: string[] }

export class BleSimPeripheral {
  /** Characteristics the central subscribed to. */
  readonly subscribed = new Set<string>();
  constructor(readonly info: SimPeripheralInfo, private readonly hub: BleSimHub) {}

  /** Sends one notification; false when no central has subscribed to `characteristic`. */
  notify(characteristic: string, value: Uint8Array): boolean {
    if (!this.subscribed.has(characteristic)) return false;
    return this.hub.send({ t: 'ntf', id: this.info.id, char: characteristic, hex: bytesToHex(value) });
  }

  /** Waits until the central has subscribed to every listed characteristic. */
  async waitSubscribed(chars: readonly string[], timeoutMs = 10_000): Promise<void> {
    const t0 = Date.now();
    while (!chars.every((c) => this.subscribed.has(c))) {
      if (Date.now() - t0 > timeoutMs) throw new Error(`no central subscribed to ${this.info.id} ${chars.join(',')} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Drops the link, as a device walking out of range. */
  disconnect(): void {
    this.subscribed.clear();
    this.hub.send({ t: 'gone', id: this.info.id });
  }

  /** Advertises again after a disconnect. */
  advertise(): void {
    this.hub.send({ t: 'adv', ...this.info });
  }
}

export class BleSimHub {
  private server: Server | undefined;
  private central: Socket | undefined;
  private readonly peripherals = new Map<string, BleSimPeripheral>();
  port = 0;

  static async listen(port = 0, host = '127.0.0.1'): Promise<BleSimHub> {
    const hub = new BleSimHub();
    hub.server = createServer((s) => hub.accept(s));
    await new Promise<void>((resolve, reject) => hub.server!.once('error', reject).listen(port, host, () => resolve()));
    hub.port = (hub.server.address() as AddressInfo).port;
    return hub;
  }

  get url(): string {
    return `ble-sim://127.0.0.1:${this.port}`;
  }

  private accept(s: Socket): void {
    // One central at a time, like a peripheral that allows a single connection.
    this.central?.destroy();
    this.central = s;
    for (const p of this.peripherals.values()) p.subscribed.clear();
    s.on('error', () => undefined);
    s.on('close', () => {
      if (this.central === s) this.central = undefined;
      for (const p of this.peripherals.values()) p.subscribed.clear();
    });
    const rl = createInterface({ input: s });
    rl.on('error', () => undefined);
    rl.on('line', (line) => {
      const m = parseBleSimMessage(line);
      if (m.ok && m.value.t === 'sub') this.peripherals.get(m.value.id)?.subscribed.add(m.value.char);
    });
    for (const p of this.peripherals.values()) p.advertise();
  }

  send(m: Parameters<typeof encodeBleSimMessage>[0]): boolean {
    if (!this.central) return false;
    this.central.write(encodeBleSimMessage(m));
    return true;
  }

  addPeripheral(info: SimPeripheralInfo): BleSimPeripheral {
    const p = new BleSimPeripheral(info, this);
    this.peripherals.set(info.id, p);
    p.advertise();
    return p;
  }

  async close(): Promise<void> {
    this.central?.end();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
