/**
 * The embedded cloud of `run` and `start`: an ingest service on a free loopback port, keeping
 * uploaded ciphertext in {data-dir}/cloud (local object storage), checking gateways against the
 * embedded chain. Production runs `vitalgate ingest` on its own, with S3 storage.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import { createProvider } from '@vitalgate/contracts';
import { ChainGatewayDirectory, LocalObjectStore, MemoryReplayCache, buildIngest } from '@vitalgate/ingest';
import type { EmbeddedChain } from '../chain/embedded.js';

export interface EmbeddedIngest {
  url: string;
  store: LocalObjectStore;
  stop(): Promise<void>;
}

export function cloudDir(dataDir: string): string {
  return join(dataDir, 'cloud');
}

export async function startEmbeddedIngest(dataDir: string, chain: EmbeddedChain, logger: Logger): Promise<EmbeddedIngest> {
  const store = new LocalObjectStore(cloudDir(dataDir));
  const provider = createProvider(chain.url, chain.deployment.chainId);
  const app = await buildIngest({ store, directory: new ChainGatewayDirectory(chain.deployment, provider), replay: new MemoryReplayCache(), logger });
  let url: string;
  try {
    url = await app.listen({ port: 0, host: '127.0.0.1' });
  } catch (e) {
    provider.destroy();
    throw e;
  }
  return {
    url, store,
    async stop() {
      await app.close();
      provider.destroy();
    },
  };
}
