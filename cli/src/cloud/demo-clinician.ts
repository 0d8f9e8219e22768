/**
 * The demo clinician of `vitalgate start`: a key file in the data directory (made once), registered
 * on the embedded chain, and granted every stream of every simulated patient as the gateway
 * registers them, so that the dashboard has something to show with no setup. The sign-in link
 * carries the key in its fragment (#key=…), which browsers never send to a server. Development
 * chains only: the key is in a file next to public demo keys.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import type { Logger } from 'pino';
import { ALL_STREAMS, MAX_DATA_TS, connectContracts, createProvider } from '@vitalgate/contracts';
import type { Gateway } from '@vitalgate/edge-gateway';
import { generateClinicianKeys, readClinicianKeyFile, writeClinicianKeyFile } from '../clinician-key-file.js';
import type { EmbeddedChain } from '../chain/embedded.js';

export const demoClinicianKeyFile = (dataDir: string): string => join(dataDir, 'demo-clinician.key');

/** Registers the demo clinician (before the gateway starts: the admin's transactions must not race the gateway's). */
export async function registerDemoClinician(dataDir: string, chain: EmbeddedChain): Promise<string> {
  const file = demoClinicianKeyFile(dataDir);
  if (!existsSync(file)) writeClinicianKeyFile(file, generateClinicianKeys());
  const keys = readClinicianKeyFile(file);
  const provider = createProvider(chain.url, chain.deployment.chainId);
  try {
    const admin = new Wallet(chain.adminKey, provider);
    const reg = connectContracts(chain.deployment, admin).registry;
    if (!(await reg.isClinician(keys.address))) await (await reg.registerClinician(keys.address, keys.encryptionPublicKey)).wait();
    // Gas for what a clinician sends itself from the dashboard (break-glass).
    if ((await provider.getBalance(keys.address)) < 10n ** 17n) await (await admin.sendTransaction({ to: keys.address, value: 10n ** 18n })).wait();
  } finally {
    provider.destroy();
  }
  return keys.address;
}

/** The dashboard link that signs the demo clinician in: the key file, base64url, in the fragment. */
export function demoSignInUrl(dataDir: string, ingestUrl: string): string {
  const text = readFileSync(demoClinicianKeyFile(dataDir), 'utf8');
  return `${new URL('/', ingestUrl).toString()}#key=${Buffer.from(text).toString('base64url')}`;
}

/**
 * Grants the demo clinician every stream of each patient the gateway has registered, from the
 * patient's own account (as a patient would), checking every few seconds for new patients.
 */
export function grantDemoAccess(gateway: Gateway, clinician: string, log: Logger, intervalMs = 2000): { stop(): Promise<void> } {
  const granted = new Set<string>();
  let running: Promise<void> | undefined;
  const tick = async () => {
    const link = gateway.chainLink;
    if (!link) return;
    for (const patientId of await gateway.keystore.patients()) {
      if (granted.has(patientId)) continue;
      try {
        const patient = await link.patientWallet(patientId);
        const c = connectContracts(link.deployment, patient);
        if (!(await c.registry.isPatient(patient.address))) continue;
        if (!(await c.consent.isGrantActive(patient.address, clinician))) {
          await (await c.consent.grant(clinician, ALL_STREAMS, 0, MAX_DATA_TS, Math.floor(Date.now() / 1000) + 24 * 3600, 'vitalgate start: demo care team')).wait();
          log.info({ patientId, clinician }, 'granted the demo clinician every stream of this patient');
        }
        granted.add(patientId);
      } catch (e) {
        log.warn({ patientId, err: (e as Error).message.split('\n')[0] }, 'could not grant the demo clinician yet; retrying');
      }
    }
  };
  const timer = setInterval(() => { running ??= tick().finally(() => { running = undefined; }); }, intervalMs);
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
