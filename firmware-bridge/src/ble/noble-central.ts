/**
 * Real Bluetooth through @abandonware/noble, an optional dependency: it needs a Bluetooth adapter
 * and native HCI bindings, which most CI machines and containers lack. Loaded only when asked for.
 */
import type { BleCentral, BlePeripheral } from './peripheral.js';

/* Minimal shape of the parts of noble this adapter uses. */
interface NobleCharacteristic { uuid: string; subscribeAsync(): Promise<void>; on(ev: 'data', cb: (data: Buffer) => void): void }
interface NoblePeripheral {
  id: string; address: string; advertisement: { localName?: string; serviceUuids?: string[] };
  connectAsync(): Promise<void>; disconnectAsync(): Promise<void>; once(ev: 'disconnect', cb: () => void): void;
  discoverSomeServicesAndCharacteristicsAsync(s: string[], c: string[]): Promise<{ characteristics: NobleCharacteristic[] }>;
}
interface Noble {
  state: string;
  on(ev: 'stateChange', cb: (s: string) => void): void;
  on(ev: 'discover', cb: (p: NoblePeripheral) => void): void;
  startScanningAsync(services: string[], allowDuplicates: boolean): Promise<void>;
  stopScanningAsync(): Promise<void>;
}

export async function loadNoble(): Promise<Noble> {
  try {
    const mod = (await import('@abandonware/noble' as string)) as { default: Noble };
    return mod.default;
  } catch (e) {
    throw new Error(`BLE needs the optional package @abandonware/noble and a Bluetooth adapter (${(e as Error).message.split('\n')[0]})`);
  }
}

export class NobleCentral implements BleCentral {
  private noble: Noble | undefined;
  private readonly connected = new Set<string>();

  async start(services: readonly string[], onPeripheral: (p: BlePeripheral) => void): Promise<void> {
    const noble = (this.noble = await loadNoble());
    const scan = () => noble.startScanningAsync([...services], true);
    noble.on('stateChange', (s) => void (s === 'poweredOn' ? scan() : undefined));
    noble.on('discover', (np) => {
      if (this.connected.has(np.id)) return;
      this.connected.add(np.id);
      void (async () => {
        try {
          await np.connectAsync();
          const offered = (np.advertisement.serviceUuids ?? []).map((u) => u.toLowerCase()).filter((u) => services.includes(u));
          const handlers = new Map<string, (v: Uint8Array) => void>();
          const { characteristics } = await np.discoverSomeServicesAndCharacteristicsAsync(offered, []);
          const byUuid = new Map(characteristics.map((c) => [c.uuid.toLowerCase(), c]));
          const p: BlePeripheral = {
            id: np.address || np.id,
            name: np.advertisement.localName ?? np.id,
            services: offered,
            subscribe: async (c, onValue) => {
              const ch = byUuid.get(c);
              if (!ch) throw new Error(`characteristic ${c} not offered`);
              handlers.set(c, onValue);
              ch.on('data', (d) => onValue(new Uint8Array(d)));
              await ch.subscribeAsync();
            },
            onDisconnect: (cb) => np.once('disconnect', cb),
            disconnect: () => np.disconnectAsync(),
          };
          // A dropped link makes the device connectable again on its next advertisement.
          np.once('disconnect', () => this.connected.delete(np.id));
          onPeripheral(p);
        } catch {
          this.connected.delete(np.id);
        }
      })();
    });
    if (noble.state === 'poweredOn') await scan();
  }

  async stop(): Promise<void> {
    await this.noble?.stopScanningAsync();
  }
}
