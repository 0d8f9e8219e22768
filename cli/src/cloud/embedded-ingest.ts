/**
 * The embedded cloud of `run` and `start`: an ingest service on a free loopback port, keeping
 * uploaded ciphertext in {data-dir}/cloud (local object storage), checking gateways against the
 * embedded chain. Production runs `vitalgate ingest` on its own, with S3 storage.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import type { Logger } from 'pino';
import { createProvider } from '@vitalgate/contracts';
import { ChainGatewayDirectory, EmbeddedCatalog, LocalObjectStore, MemoryReplayCache, buildIngest } from '@vitalgate/ingest';
import { chainDir, startEmbeddedChain, type EmbeddedChain } from '../chain/embedded.js';

export interface EmbeddedIngest {
  url: string;
  store: LocalObjectStore;
  stop(): Promise<void>;
}

export function cloudDir(dataDir: string): string {
  return join(dataDir, 'cloud');
}

/** The embedded catalog (LevelDB) beside the cloud's objects; `vitalgate ingest` defaults to it too. */
export function catalogDir(dataDir: string): string {
  return join(dataDir, 'cloud-catalog');
}

export async function startEmbeddedIngest(dataDir: string, chain: EmbeddedChain, logger: Logger): Promise<EmbeddedIngest> {
  const store = new LocalObjectStore(cloudDir(dataDir));
  const catalog = await EmbeddedCatalog.open(catalogDir(dataDir));
  const provider = createProvider(chain.url, chain.deployment.chainId);
  let url: string;
  let app: Awaited<ReturnType<typeof buildIngest>> | undefined;
  try {
    app = await buildIngest({ store, catalog, directory: new ChainGatewayDirectory(chain.deployment, provider), replay: new MemoryReplayCache(), logger });
    url = await app.listen({ port: 0, host: '127.0.0.1' });
  } catch (e) {
    await app?.close();
    provider.destroy();
    await catalog.close();
    throw e;
  }
  const running = app;
  return {
    url, store,
    async stop() {
      await running.close();
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
