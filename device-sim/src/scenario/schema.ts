/**
 * Scenario files (YAML): which devices run, over which transports, for how long, and what goes
 * wrong. Validated up front, so a typo fails with the field's path instead of a silent default.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { ID_PATTERN } from '@vitalgate/protocol';
import { PROFILES } from '../profiles.js';

const id = z.string().regex(ID_PATTERN, 'must be 1-64 of A-Z a-z 0-9 . _ - (starting with a letter or digit)');

const group = z.strictObject({
  /** Devices in this group; ids are `${id}` for one device, `${id}-0001`… for several. */
  count: z.number().int().min(1).max(100_000).default(1),
  id: id.optional(),
  /** One patient for the whole group, or (default) one patient per device. */
  patient: id.optional(),
  profile: z.string().refine((p) => p in PROFILES, { message: `unknown profile (known: ${Object.keys(PROFILES).join(', ')})` }).optional(),
  /** A WFDB record header (.hea) to replay instead of a synthetic profile. */
  replay: z.string().optional(),
  lead: z.string().optional(),
  speed: z.number().positive().max(1000).default(1),
  loop: z.boolean().default(false),
  transport: z.enum(['mqtt', 'serial', 'ble-sim']).default('mqtt'),
  encoding: z.enum(['json', 'cbor']).default('cbor'),
  /** Serial device path (one end of the link) for transport: serial. */
  port: z.string().optional(),
  baudRate: z.number().int().positive().default(115200),
  /** Device clock minus true time, ms: what the device's own timestamps are off by. */
  clockSkewMs: z.number().int().default(0),
  seed: z.number().int().nonnegative().optional(),
}).refine((g) => !(g.profile && g.replay), { message: 'a group has either a profile or a replay, not both' })
  .refine((g) => g.transport !== 'serial' || g.port, { message: 'transport: serial needs port: /dev/…' });

const fault = z.strictObject({
  kind: z.enum(['drop', 'corrupt', 'disconnect', 'burst', 'clock-skew', 'battery-drain', 'lead-off']),
  /** Device ids (or id prefixes) it applies to; default every device. */
  devices: z.array(z.string()).optional(),
  /** Seconds from the start, and how long. */
  at: z.number().nonnegative().default(0),
  for: z.number().positive().optional(),
  /** drop / corrupt: the chance that each reading is hit. */
  probability: z.number().min(0).max(1).default(0.1),
  /** clock-skew: extra skew applied during the window, ms. */
  skewMs: z.number().int().default(0),
  /** battery-drain: percent per minute; the device stops at 0 %. */
  percentPerMinute: z.number().positive().default(10),
});

export const scenarioSchema = z.strictObject({
  name: z.string().default('scenario'),
  durationS: z.number().positive().max(7 * 24 * 3600),
  seed: z.number().int().nonnegative().default(1),
  broker: z.string().optional(),
  /** Port of the BLE-sim hub (0 = a free one). */
  bleSimPort: z.number().int().min(0).max(65535).default(0),
  /** Device status (battery, lead-off) every this many seconds. */
  statusEveryS: z.number().positive().default(10),
  devices: z.array(group).min(1),
  faults: z.array(fault).default([]),
});

export type Scenario = z.infer<typeof scenarioSchema>;
export type DeviceGroup = Scenario['devices'][number];
export type FaultSpec = Scenario['faults'][number];

/** Reads and validates a scenario file; relative replay paths are relative to the file. */
export async function loadScenario(path: string): Promise<Scenario> {
  let raw: unknown;
  try {
    raw = parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read scenario ${path}: ${(e as Error).message.split('\n')[0]}`);
  }
  const r = scenarioSchema.safeParse(raw);
  if (!r.success) {
    throw new Error(`scenario ${path} is invalid:\n${r.error.issues.map((i) => `  ${i.path.join('.') || '(top level)'}: ${i.message}`).join('\n')}`);
  }
  for (const g of r.data.devices) if (g.replay) g.replay = resolve(dirname(path), g.replay);
  return r.data;
}
