/**
 * A chain session for the Registry's administrative commands (`clinicians`, `care-teams`): the
 * embedded dev chain of a data directory (its public dev admin key; started for the command, or
 * already running under `vitalgate start` and reached with --chain-url), or another chain with the
 * admin key from --admin-key-file (0600; never a flag value, which the process list would show).
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { Wallet, type ContractTransactionResponse, type JsonRpcProvider } from 'ethers';
import { ANVIL_DEFAULT_CHAIN_ID, ANVIL_DEV_KEYS, connectContracts, createProvider, decodeRevert, readDeployment, type Deployment, type VitalgateContracts } from '@vitalgate/contracts';
import { DEFAULT_DATA_DIR } from '../options.js';
import { readSecretFile } from '../commands/ingest/backends.js';
import { chainDir, startEmbeddedChain } from './embedded.js';

export interface AdminChainOpts { dataDir: string; chainUrl?: string; deployment?: string; adminKeyFile?: string }

export interface AdminSession {
  provider: JsonRpcProvider;
  deployment: Deployment;
  /** Read-only contracts. */
  contracts: VitalgateContracts;
  /** The admin, when one is needed and known. */
  admin?: Wallet;
  embedded: boolean;
}

export function adminChainOptions(cmd: Command, needsAdmin: boolean): Command {
  cmd
    .option('--data-dir <dir>', 'data directory whose embedded chain to use (when no --chain-url)', DEFAULT_DATA_DIR)
    .option('--chain-url <url>', 'JSON-RPC URL of the chain holding the Registry (default: the embedded chain in <data-dir>/chain, started for this command)')
    .option('--deployment <file>', 'deployment file, with --chain-url (default: <data-dir>/chain/deployment.json)');
  if (needsAdmin) cmd.option('--admin-key-file <file>', 'with --chain-url: file (0600) holding the private key of a Registry admin (not needed for the embedded dev chain of <data-dir>, running under `vitalgate start`: its public dev admin key is used)');
  return cmd;
}

function adminKey(path: string): string {
  const k = readSecretFile(path, '--admin-key-file');
  if (!/^(0x)?[0-9a-fA-F]{64}$/.test(k)) throw new Error(`--admin-key-file ${path} must hold one private key: 64 hex digits (with or without 0x)`);
  return k.startsWith('0x') ? k : `0x${k}`;
}

/** Opens the chain, runs `fn`, and closes everything. */
export async function withAdminChain<T>(o: AdminChainOpts, needsAdmin: boolean, fn: (s: AdminSession) => Promise<T>): Promise<T> {
  if (o.deployment && !o.chainUrl) throw new Error('--deployment goes with --chain-url (the embedded chain has its own deployment file)');
  if (o.adminKeyFile && !o.chainUrl) throw new Error('--admin-key-file goes with --chain-url (the embedded chain uses its dev admin key)');
  if (o.chainUrl) {
    const file = o.deployment ?? join(chainDir(o.dataDir), 'deployment.json');
    const deployment = await readDeployment(file);
    if (!deployment) throw new Error(`no deployment at ${file} (pass --deployment)`);
    // The embedded chain of <data-dir>, already running (under `vitalgate start`): its admin key is anvil's public dev key.
    const embeddedRunning = !o.deployment && deployment.chainId === ANVIL_DEFAULT_CHAIN_ID;
    if (needsAdmin && !o.adminKeyFile && !embeddedRunning) throw new Error('--admin-key-file <file> is required with --chain-url: only a Registry admin may do this');
    const provider = createProvider(o.chainUrl, deployment.chainId);
    try {
      const key = !needsAdmin ? undefined : o.adminKeyFile ? adminKey(o.adminKeyFile) : ANVIL_DEV_KEYS[0]!;
      if (needsAdmin && !o.adminKeyFile) process.stderr.write('using the embedded dev chain\'s public admin key (anvil\'s first dev account)\n');
      const admin = key ? new Wallet(key, provider) : undefined;
      if (admin) await requireAdmin(connectContracts(deployment, provider), admin.address);
      return await fn({ provider, deployment, contracts: connectContracts(deployment, provider), ...(admin && { admin }), embedded: false });
    } finally {
      provider.destroy();
    }
  }
  const chain = await startEmbeddedChain(chainDir(o.dataDir));
  const provider = createProvider(chain.url, chain.deployment.chainId);
  try {
    return await fn({ provider, deployment: chain.deployment, contracts: connectContracts(chain.deployment, provider), admin: new Wallet(chain.adminKey, provider), embedded: true });
  } finally {
    provider.destroy();
    await chain.stop();
  }
}

async function requireAdmin(c: VitalgateContracts, address: string): Promise<void> {
  if (!(await c.registry.hasRole(await c.registry.DEFAULT_ADMIN_ROLE(), address))) {
    throw new Error(`${address} (the key in --admin-key-file) is not a Registry admin`);
  }
}

/**
 * Sends a transaction and waits for it; a revert becomes the message `explain` gives for its error.
 * `noFunds` names the paying account when it cannot pay: who must be sent ETH differs by command.
 */
export async function sendTx(
  tx: () => Promise<ContractTransactionResponse>,
  explain: (name: string, args: readonly unknown[]) => string | undefined,
  noFunds = 'the sending account has no ETH to pay for the gas',
): Promise<{ hash: string; block: number; logs: readonly { topics: readonly string[]; data: string }[] }> {
  try {
    const sent = await tx();
    const receipt = await sent.wait();
    if (!receipt) throw new Error(`transaction ${sent.hash} has no receipt`);
    return { hash: receipt.hash, block: receipt.blockNumber, logs: receipt.logs };
  } catch (e) {
    const r = decodeRevert(e);
    if (r) throw new Error(explain(r.name, [...r.args]) ?? `the contract refused: ${r.name}(${[...r.args].join(', ')})`);
    const err = e as { code?: string; shortMessage?: string; message?: string };
    if (err.code === 'INSUFFICIENT_FUNDS' || /insufficient funds/i.test(err.message ?? '')) throw new Error(noFunds);
    throw new Error(err.shortMessage ?? err.message ?? String(e));
  }
}
