/**
 * The embedded development chain: anvil with its state in {data-dir}/chain, and the contracts
 * deployed there once (idempotently). `run`, `start`, `chain up` and `verify` share it, so
 * `vitalgate run` followed by `vitalgate verify` needs no setup at all.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import { ANVIL_DEV_KEYS, createProvider, deployOrLoad, startAnvil, type AnvilNode, type Deployment } from '@vitalgate/contracts';

export interface EmbeddedChain {
  node: AnvilNode;
  url: string;
  deploymentFile: string;
  deployment: Deployment;
  /** anvil's first dev key: the Registry admin of a development chain. Public; never for value. */
  adminKey: string;
  stop(): Promise<void>;
}

export function chainDir(dataDir: string): string {
  return join(dataDir, 'chain');
}

export async function startEmbeddedChain(dir: string, port = 0): Promise<EmbeddedChain> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const node = await startAnvil({ port, statePath: join(dir, 'anvil-state.json') });
  try {
    const adminKey = ANVIL_DEV_KEYS[0]!;
    const deploymentFile = join(dir, 'deployment.json');
    const admin = new Wallet(adminKey, createProvider(node.url));
    const { deployment } = await deployOrLoad(admin, deploymentFile);
    return { node, url: node.url, deploymentFile, deployment, adminKey, stop: () => node.stop() };
  } catch (e) {
    await node.stop();
    throw e;
  }
}
