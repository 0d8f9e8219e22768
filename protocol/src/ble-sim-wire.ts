/**
 * BLE-sim link: how simulated BLE peripherals reach a gateway on a machine with no radio. A hub in
 * the simulator and a "central" in the gateway exchange JSON lines over loopback TCP, carrying
 * exactly what a radio would: advertisements, subscriptions, and raw notification bytes (hex). The
 * gateway's GATT decoders see the same bytes they would see from a real strap.
 *
 *   hub → central   {"t":"adv","id","name","services":["180d"]}   a peripheral is in range
 *                   {"t":"ntf","id","char":"2a37","hex":"…"}       a notification or indication
 *                   {"t":"gone","id"}                              the peripheral disconnected
 *   central → hub   {"t":"sub","id","char"}                        enable notifications
 */
import { fail, ok, type Result } from './reading.js';
import { isValidId } from './ids.js';

export type BleSimMessage =
  | { t: 'adv'; id: string; name: string; services: string[] }
  | { t: 'ntf'; id: string; char: string; hex: string }
  | { t: 'gone'; id: string }
  | { t: 'sub'; id: string; char: string };

const UUID16 = /^[0-9a-f]{4}$/;
export const MAX_BLE_SIM_LINE = 4096;

export function encodeBleSimMessage(m: BleSimMessage): string {
  return JSON.stringify(m) + '\n';
}

/** Parses one line from the peer. Never throws. */
export function parseBleSimMessage(line: string): Result<BleSimMessage> {
  if (line.length > MAX_BLE_SIM_LINE) return fail('ble-sim line too long');
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return fail('ble-sim line is not JSON');
  }
  if (typeof m !== 'object' || m === null || typeof m.id !== 'string' || !isValidId(m.id)) return fail('ble-sim message without a valid id');
  switch (m.t) {
    case 'adv':
      if (typeof m.name !== 'string' || !Array.isArray(m.services) || !m.services.every((s) => typeof s === 'string' && UUID16.test(s))) return fail('bad adv');
      return ok({ t: 'adv', id: m.id, name: m.name.slice(0, 64), services: m.services as string[] });
    case 'ntf':
      if (typeof m.char !== 'string' || !UUID16.test(m.char) || typeof m.hex !== 'string' || !/^([0-9a-f]{2}){0,512}$/.test(m.hex)) return fail('bad ntf');
      return ok({ t: 'ntf', id: m.id, char: m.char, hex: m.hex });
    case 'gone':
      return ok({ t: 'gone', id: m.id });
    case 'sub':
      if (typeof m.char !== 'string' || !UUID16.test(m.char)) return fail('bad sub');
      return ok({ t: 'sub', id: m.id, char: m.char });
    default:
      return fail(`unknown ble-sim message type ${String(m.t).slice(0, 16)}`);
  }
}
