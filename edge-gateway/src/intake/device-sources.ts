/**
 * The serial and BLE source adapters: UART firmware devices on serial ports, and BLE health
 * devices on a real radio (noble) or the simulator's BLE-sim hub, each feeding the gateway's
 * readings in as any other source does (`ReadingSink`). The wire formats and radios themselves
 * live in @vitalgate/firmware-bridge; this is only how the gateway opens them.
 */
import type { Logger } from 'pino';
import {
  BleSource, NobleCentral, SerialSource, SimCentral,
  type ReadingSink, type SerialSourceOptions,
} from '@vitalgate/firmware-bridge';
import type { LogThrottle } from '../log-throttle.js';

/** A serial port with UART firmware devices on it (one patient per port). */
export type SerialSourceConfig = Omit<SerialSourceOptions, 'logger'>;

/**
 * BLE health devices, all worn by `patientId`: `radio: 'noble'` for a real Bluetooth adapter, or
 * a ble-sim://host:port address for the simulator's BLE-sim hub. `devices` lists the addresses
 * of the patient's own peripherals; a real radio hears every strap in range, so it is required
 * for 'noble'.
 */
export interface BleSourceConfig { radio: string; patientId: string; devices?: string[] }

/**
 * Opens each serial port into `sink`. Each source is pushed to `started` before it starts, so the
 * caller can stop every one it opened if a later one fails.
 */
export async function startSerialSources(configs: readonly SerialSourceConfig[], sink: ReadingSink, logger: Logger, throttle: LogThrottle, started: SerialSource[]): Promise<void> {
  for (const so of configs) {
    const src = new SerialSource({ ...so, logger: logger.child({ source: 'serial', path: so.path }) });
    src.on('badFrame', (reason) => throttle.warn(`serial ${reason.slice(0, 24)}`, { path: so.path, reason }, 'rejected serial frame'));
    started.push(src);
    await src.start(sink);
  }
}

/** Opens each BLE radio into `sink`; like startSerialSources, each source goes to `started` first. */
export async function startBleSources(configs: readonly BleSourceConfig[], sink: ReadingSink, logger: Logger, started: BleSource[]): Promise<void> {
  for (const bo of configs) {
    if (bo.radio === 'noble' && !bo.devices?.length) {
      throw new Error(`BLE on a real radio for patient ${bo.patientId} needs the addresses of the patient's own devices (--ble noble@${bo.patientId}=C8:4B:00:11:22:33,…): without them a neighbour's strap would write into this record`);
    }
    const central = bo.radio === 'noble' ? new NobleCentral() : new SimCentral(bo.radio);
    const src = new BleSource({ central, patientId: bo.patientId, ...(bo.devices?.length && { allow: bo.devices }), logger: logger.child({ source: 'ble', radio: bo.radio }) });
    if (!bo.devices?.length) logger.warn({ radio: bo.radio, patientId: bo.patientId }, 'BLE without a device allowlist: every simulated peripheral is taken as this patient\'s');
    started.push(src);
    await src.start(sink);
  }
}
