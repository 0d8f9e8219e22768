/**
 * The embedded cloud of `run` and `start`: an ingest service on a free loopback port, keeping
 * uploaded ciphertext in {data-dir}/cloud (local object storage), checking gateways against the
 * embedded chain, and serving care teams (sign-in, the clinician API, the access log anchored by
 * the chain's dev auditor). Production runs `vitalgate ingest` on its own, with S3 storage.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import type { Logger } from 'pino';
import { Wallet } from 'ethers';
import { createProvider } from '@vitalgate/contracts';
import { DASHBOARD_DIR } from '@vitalgate/dashboard';
import { ChainGatewayDirectory, EmbeddedCatalog, LocalObjectStore, MemoryReplayCache, buildIngest, startCareTeamService, type CareTeamService } from '@vitalgate/ingest';
import { chainDir, startEmbeddedChain, type EmbeddedChain } from '../chain/embedded.js';

export interface EmbeddedIngest {
  url: string;
  stop(): Promise<void>;
}

/** What ingest needs of the embedded chain: plain data, so that it can cross into a worker thread. */
export type IngestChain = Pick<EmbeddedChain, 'url' | 'deployment' | 'auditorKey'>;

export function cloudDir(dataDir: string): string {
  return join(dataDir, 'cloud');
}

/** The embedded catalog (LevelDB) beside the cloud's objects; `vitalgate ingest` defaults to it too. */
export function catalogDir(dataDir: string): string {
  return join(dataDir, 'cloud-catalog');
}

export async function startEmbeddedIngest(dataDir: string, chain: IngestChain, logger: Logger): Promise<EmbeddedIngest> {
  const store = new LocalObjectStore(cloudDir(dataDir));
  const catalog = await EmbeddedCatalog.open(catalogDir(dataDir));
  const provider = createProvider(chain.url, chain.deployment.chainId);
  let url: string;
  let app: Awaited<ReturnType<typeof buildIngest>> | undefined;
  let careTeams: CareTeamService | undefined;
  try {
    const replay = new MemoryReplayCache();
    careTeams = await startCareTeamService({
      deployment: chain.deployment, provider, store, replay, sessionSecret: randomBytes(32),
      // Filled in once listening: the port is not known before.
      siwe: { domain: '127.0.0.1', origin: 'http://127.0.0.1', chainId: chain.deployment.chainId },
      auditor: new Wallet(chain.auditorKey, provider), logger: logger.child({ part: 'care-teams' }),
    });
    app = await buildIngest({ store, catalog, directory: new ChainGatewayDirectory(chain.deployment, provider), replay, logger, clinicians: careTeams.clinicians, dashboardDir: DASHBOARD_DIR,
      dashboardChain: { rpcUrl: chain.url, chainId: chain.deployment.chainId, dataAnchor: chain.deployment.contracts.DataAnchor, consent: chain.deployment.contracts.Consent } });
    url = await app.listen({ port: 0, host: '127.0.0.1' });
    careTeams.clinicians.siwe.origin = new URL(url).origin;
    careTeams.clinicians.siwe.domain = new URL(url).host;
  } catch (e) {
    await app?.close();
    await careTeams?.stop();
    provider.destroy();
    await catalog.close();
    throw e;
  }
  const running = app;
  const teams = careTeams;
  return {
    url,
    async stop() {
      await running.close();
      await teams.stop();
      provider.destroy();
      await catalog.close();
    },
  };
}

/** The embedded chain and ingest of a `run`/`start` data directory, started to read its cloud copy. */
export async function startEmbeddedCloud(dataDir: string): Promise<{ url: string; chain: EmbeddedChain; stop(): Promise<void> }> {
  if (!existsSync(join(chainDir(dataDir), 'deployment.json')) || !existsSync(cloudDir(dataDir))) {
    throw new Error(`${dataDir} has no embedded chain and cloud (made by \`vitalgate run\` or \`start\`): pass --from-ingest <url> of the ingest service the gateway uploaded to`);
  }
  const chain = await startEmbeddedChain(chainDir(dataDir));
  try {
    const ingest = await startEmbeddedIngest(dataDir, chain, pino({ level: 'warn' }, pino.destination(2)));
    return { url: ingest.url, chain, async stop() { await ingest.stop(); await chain.stop(); } };
  } catch (e) {
    await chain.stop();
    throw e;
  }
}
