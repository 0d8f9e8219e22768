/**
 * The embedded development chain: anvil with its state in {data-dir}/chain, and the contracts
 * deployed there once (idempotently). `run`, `start`, `chain up` and `verify` share it, so
 * `vitalgate run` followed by `vitalgate verify` needs no setup at all.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import { ANVIL_DEV_KEYS, connectContracts, createProvider, deployOrLoad, startAnvil, type AnvilNode, type Deployment } from '@vitalgate/contracts';

export interface EmbeddedChain {
  node: AnvilNode;
  url: string;
  deploymentFile: string;
  deployment: Deployment;
  /** anvil's first dev key: the Registry admin of a development chain. Public; never for value. */
  adminKey: string;
  /**
   * anvil's last dev key: ingest's auditor account (Registry.AUDITOR_ROLE: denial reports, access-log
   * anchors). Its own account, so its transactions never race the gateway's (the admin's) for a nonce.
   */
  auditorKey: string;
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
    const auditorKey = ANVIL_DEV_KEYS[9]!;
    const registry = connectContracts(deployment, admin).registry;
    const auditor = new Wallet(auditorKey).address;
    const role = await registry.AUDITOR_ROLE();
    if (!(await registry.hasRole(role, auditor))) await (await registry.grantRole(role, auditor)).wait();
    admin.provider!.destroy();
    return { node, url: node.url, deploymentFile, deployment, adminKey, auditorKey, stop: () => node.stop() };
  } catch (e) {
    await node.stop();
    throw e;
  }
}
