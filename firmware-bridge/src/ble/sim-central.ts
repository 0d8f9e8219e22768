/**
 * A BLE "radio" that is really the simulator's BLE-sim hub on loopback (see protocol's
 * ble-sim-wire). Peripherals it reports behave like radio ones: they advertise, are subscribed,
 * notify raw GATT bytes, and disconnect; the link to the hub is re-established with backoff.
 */
import { createConnection, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { hexToBytes } from '@noble/hashes/utils.js';
import { encodeBleSimMessage, parseBleSimMessage } from '@vitalgate/protocol';
import type { BleCentral, BlePeripheral } from './peripheral.js';

interface SimPeripheral extends BlePeripheral {
  handlers: Map<string, (v: Uint8Array) => void>;
  disconnects: Array<() => void>;
}

export class SimCentral implements BleCentral {
  private sock: Socket | undefined;
  private readonly peripherals = new Map<string, SimPeripheral>();
  private stopped = false;
  private backoff = 100;
  private timer: NodeJS.Timeout | undefined;
  badMessages = 0;

  /** url: ble-sim://host:port */
  constructor(readonly url: string) {
    const u = new URL(url);
    if (u.protocol !== 'ble-sim:' || !u.port) throw new Error(`BLE-sim address must look like ble-sim://127.0.0.1:PORT, got ${url}`);
  }

  async start(services: readonly string[], onPeripheral: (p: BlePeripheral) => void): Promise<void> {
    this.stopped = false;
    await this.connect(new Set(services), onPeripheral);
  }

  private connect(services: Set<string>, onPeripheral: (p: BlePeripheral) => void): Promise<void> {
    const u = new URL(this.url);
    return new Promise((resolve) => {
      const sock = createConnection({ host: u.hostname, port: Number(u.port) });
      let settled = false;
      sock.once('connect', () => {
        this.sock = sock;
        this.backoff = 100;
        settled = true;
        resolve();
      });
      sock.on('error', () => undefined);
      sock.once('close', () => {
        this.sock = undefined;
        for (const p of this.peripherals.values()) for (const cb of p.disconnects) cb();
        this.peripherals.clear();
        if (!settled) resolve();
        if (this.stopped) return;
        this.timer = setTimeout(() => void this.connect(services, onPeripheral), this.backoff);
        this.backoff = Math.min(this.backoff * 2, 5000);
      });
      const rl = createInterface({ input: sock });
      rl.on('error', () => undefined); // socket errors are handled by the close handler above
      rl.on('line', (line) => {
        const m = parseBleSimMessage(line);
        if (!m.ok) { this.badMessages++; return; }
        const msg = m.value;
        if (msg.t === 'adv') {
          if (!msg.services.some((s) => services.has(s)) || this.peripherals.has(msg.id)) return;
          const p: SimPeripheral = {
            id: msg.id, name: msg.name, services: msg.services, handlers: new Map(), disconnects: [],
            subscribe: async (c, onValue) => {
              p.handlers.set(c, onValue);
              sock.write(encodeBleSimMessage({ t: 'sub', id: msg.id, char: c }));
            },
            onDisconnect: (cb) => void p.disconnects.push(cb),
            disconnect: async () => undefined,
          };
          this.peripherals.set(msg.id, p);
          onPeripheral(p);
        } else if (msg.t === 'ntf') {
          this.peripherals.get(msg.id)?.handlers.get(msg.char)?.(hexToBytes(msg.hex));
        } else if (msg.t === 'gone') {
          const p = this.peripherals.get(msg.id);
          this.peripherals.delete(msg.id);
          for (const cb of p?.disconnects ?? []) cb();
        }
      });
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const s = this.sock;
    if (s) await new Promise<void>((r) => { s.once('close', () => r()); s.end(); });
  }
}
