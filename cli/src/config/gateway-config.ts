/**
 * The gateway's config file. Every field is optional; command-line flags override the file.
 * Secrets are never in it: the passphrase and MQTT password are read from files or the environment.
 */
import { z } from 'zod';
import { ID_PATTERN } from '@vitalgate/protocol';

const id = z.string().regex(ID_PATTERN, 'must be 1-64 of A-Z a-z 0-9 . _ - (starting with a letter or digit)');

export const gatewayConfigSchema = z.strictObject({
  dataDir: z.string().min(1).optional(),
  passphraseFile: z.string().min(1).optional(),
  mqtt: z.strictObject({
    url: z.string().regex(/^(mqtts?|wss?):\/\//, 'must be an mqtt://, mqtts://, ws:// or wss:// URL').optional(),
    clientId: z.string().min(1).max(128).optional(),
    username: z.string().min(1).optional(),
    caFile: z.string().min(1).optional(),
    certFile: z.string().min(1).optional(),
    keyFile: z.string().min(1).optional(),
    enabled: z.boolean().default(true),
  }).optional(),
  patients: z.array(id).optional(),
  serial: z.array(z.strictObject({
    path: z.string().min(1),
    patient: id,
    baudRate: z.number().int().positive().default(115200),
  })).default([]),
  ble: z.array(z.strictObject({
    radio: z.string().regex(/^(noble|ble-sim:\/\/.+)$/, 'must be "noble" (a Bluetooth adapter) or a ble-sim://host:port address'),
    patient: id,
    /** Addresses of the patient's own peripherals; required with radio: noble. */
    devices: z.array(z.string().min(1).max(64)).optional(),
  })).default([]),
  batchWindowMs: z.number().int().min(10).max(600_000).optional(),
  epochMinutes: z.number().positive().max(24 * 60).optional(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).optional(),
});

export type GatewayConfig = z.infer<typeof gatewayConfigSchema>;

export const GATEWAY_CONFIG_EXAMPLE = `# vitalgate gateway --config gateway.yaml
dataDir: /var/lib/vitalgate
passphraseFile: /etc/vitalgate/passphrase      # mode 0600
mqtt:
  url: mqtt://127.0.0.1:1883
  clientId: vitalgate-gateway                    # the broker keeps this session across restarts
  username: gateway-ward-3                       # password: env VITALGATE_MQTT_PASSWORD
  # for mqtts://: caFile (the broker's CA); certFile + keyFile to log in by client certificate
patients: [patient-0001]                         # omit to serve every patient on the broker
serial:
  - { path: /dev/ttyUSB0, patient: patient-0001, baudRate: 115200 }
ble:
  - { radio: noble, patient: patient-0001, devices: ['C8:4B:00:11:22:33'] }   # only these peripherals
                                                 # radio: ble-sim://127.0.0.1:7001 for simulated devices
batchWindowMs: 2000
epochMinutes: 15
logLevel: info
`;
