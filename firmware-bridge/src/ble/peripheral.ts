/**
 * The seam between BLE sources and radios. A real adapter (noble) and the simulator's BLE-sim link
 * both present peripherals this way, so everything above it (service discovery, subscriptions,
 * GATT decoding, readings) is the same code with or without hardware.
 */
export interface BlePeripheral {
  /** Stable identity: the device address for real radios, the simulated device id otherwise. */
  readonly id: string;
  readonly name: string;
  /** 16-bit service UUIDs, lowercase hex ("180d"). */
  readonly services: readonly string[];
  /** Enables notifications/indications of a characteristic ("2a37"); values arrive in onValue. */
  subscribe(characteristic: string, onValue: (value: Uint8Array) => void): Promise<void>;
  /** Called once when the link drops. */
  onDisconnect(cb: () => void): void;
  disconnect(): Promise<void>;
}

export interface BleCentral {
  /** Reports every peripheral advertising one of `services`, connected and ready to subscribe. */
  start(services: readonly string[], onPeripheral: (p: BlePeripheral) => void): Promise<void>;
  stop(): Promise<void>;
}

/** Standard health services and the measurement characteristics a source subscribes to in each. */
export const HEALTH_SERVICES: Readonly<Record<string, { name: string; measurements: readonly string[] }>> = {
  '180d': { name: 'Heart Rate', measurements: ['2a37'] },
  '1809': { name: 'Health Thermometer', measurements: ['2a1c'] },
  '1810': { name: 'Blood Pressure', measurements: ['2a35'] },
  '1822': { name: 'Pulse Oximeter', measurements: ['2a5f', '2a5e'] },
  '1808': { name: 'Glucose', measurements: ['2a18'] },
};
