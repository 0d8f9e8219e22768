/**
 * Deployment of the four contracts, and the deployment file that lets `vitalgate chain up` reuse them.
 *
 * Wiring: Registry(admin = deployer, denyThreshold); Consent(Registry, breakGlassSeconds);
 * DataAnchor(Registry); AuditLog(Registry); then the auditor (ingest's account, by default the
 * deployer) gets Registry.AUDITOR_ROLE so it can anchor access-log roots and report denials, and the
 * Consent contract gets Registry.BREAK_GLASS_ROLE so it can count break-glass uses.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '@vitalgate/protocol/durable';
import { concat, keccak256, type ContractRunner, type Provider, type Signer } from 'ethers';
import { auditLogBytecode, consentBytecode, dataAnchorBytecode, registryBytecode } from './generated/artifacts.js';
import {
  AuditLog__factory,
  Consent__factory,
  DataAnchor__factory,
  Registry__factory,
  type AuditLog,
  type Consent,
  type DataAnchor,
  type Registry,
} from './generated/typechain/index.js';
import type { Hex } from './merkle.js';

export type ContractName = 'Registry' | 'Consent' | 'DataAnchor' | 'AuditLog';
export const CONTRACT_NAMES: readonly ContractName[] = ['Registry', 'Consent', 'DataAnchor', 'AuditLog'];

/** The deployment file's content. */
export interface Deployment {
  chainId: number;
  contracts: Record<ContractName, string>;
  /** Block of the Registry's deployment: where to start scanning events. */
  deployedAtBlock: number;
  deployer: string;
  /** keccak256 of the four creation bytecodes: a deployment of other code is not reused. */
  bytecodeHash: Hex;
  /** ISO 8601 time of the deployment. */
  deployedAt: string;
  settings: { denyThreshold: number; breakGlassSeconds: number; auditor: string };
}

/** Typed ethers v6 contract instances (TypeChain). */
export interface VitalgateContracts {
  registry: Registry;
  consent: Consent;
  dataAnchor: DataAnchor;
  auditLog: AuditLog;
}

export interface DeployOptions {
  /** Account given AUDITOR_ROLE (ingest). Default: the deployer. */
  auditor?: string;
  /** Denied requests that ban a requester automatically (0 = never). Default 5. */
  denyThreshold?: number;
  /** Length of a break-glass session in seconds. Default 4 hours. */
  breakGlassSeconds?: number;
}

export interface DeployResult {
  deployment: Deployment;
  contracts: VitalgateContracts;
  /** True when an existing deployment was reused. */
  reused: boolean;
}

export const DEFAULT_DENY_THRESHOLD = 5;
export const DEFAULT_BREAK_GLASS_SECONDS = 4 * 60 * 60;

/** Hash identifying the compiled code (see Deployment.bytecodeHash). */
export const BYTECODE_HASH = keccak256(
  concat([registryBytecode, consentBytecode, dataAnchorBytecode, auditLogBytecode]),
) as Hex;

/** Typed contract instances at a deployment's addresses. */
export function connectContracts(
  addresses: Record<ContractName, string> | Deployment,
  runner: ContractRunner | null,
): VitalgateContracts {
  const a = 'contracts' in addresses ? addresses.contracts : addresses;
  return {
    registry: Registry__factory.connect(a.Registry, runner),
    consent: Consent__factory.connect(a.Consent, runner),
    dataAnchor: DataAnchor__factory.connect(a.DataAnchor, runner),
    auditLog: AuditLog__factory.connect(a.AuditLog, runner),
  };
}

function providerOf(signer: Signer): Provider {
  if (!signer.provider) throw new Error('the signer must be connected to a provider');
  return signer.provider;
}

/** Deploys and wires the four contracts (five transactions), without touching any file. */
export async function deployContracts(signer: Signer, opts: DeployOptions = {}): Promise<Omit<DeployResult, 'reused'>> {
  const provider = providerOf(signer);
  const chainId = Number((await provider.getNetwork()).chainId);
  const deployer = await signer.getAddress();
  const settings = {
    denyThreshold: opts.denyThreshold ?? DEFAULT_DENY_THRESHOLD,
    breakGlassSeconds: opts.breakGlassSeconds ?? DEFAULT_BREAK_GLASS_SECONDS,
    auditor: opts.auditor ?? deployer,
  };

  // Explicit nonces: robust against providers that cache the 'pending' nonce (see createProvider).
  let nonce = await provider.getTransactionCount(deployer, 'pending');
  const registry = await new Registry__factory(signer).deploy(deployer, settings.denyThreshold, { nonce: nonce++ });
  const registryReceipt = await registry.deploymentTransaction()!.wait();
  const registryAddress = await registry.getAddress();
  const consent = await new Consent__factory(signer).deploy(registryAddress, settings.breakGlassSeconds, {
    nonce: nonce++,
  });
  const dataAnchor = await new DataAnchor__factory(signer).deploy(registryAddress, { nonce: nonce++ });
  const auditLog = await new AuditLog__factory(signer).deploy(registryAddress, { nonce: nonce++ });
  const grant = await registry.grantRole(await registry.AUDITOR_ROLE(), settings.auditor, { nonce: nonce++ });
  // Consent counts break-glass uses (and their strikes) in the Registry; it can do nothing else there.
  const glass = await registry.grantRole(await registry.BREAK_GLASS_ROLE(), await consent.getAddress(), { nonce: nonce++ });
  await Promise.all([
    glass.wait(),
    consent.deploymentTransaction()!.wait(),
    dataAnchor.deploymentTransaction()!.wait(),
    auditLog.deploymentTransaction()!.wait(),
    grant.wait(),
  ]);

  const deployment: Deployment = {
    chainId,
    contracts: {
      Registry: registryAddress,
      Consent: await consent.getAddress(),
      DataAnchor: await dataAnchor.getAddress(),
      AuditLog: await auditLog.getAddress(),
    },
    deployedAtBlock: registryReceipt?.blockNumber ?? 0,
    deployer,
    bytecodeHash: BYTECODE_HASH,
    deployedAt: new Date().toISOString(),
    settings,
  };
  return { deployment, contracts: connectContracts(deployment, signer) };
}

/** Reads a deployment file; undefined if it does not exist or is not a deployment. */
export function readDeployment(deploymentFile: string): Deployment | undefined {
  let text: string;
  try {
    text = readFileSync(deploymentFile, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const d = JSON.parse(text) as Deployment;
    if (typeof d.chainId !== 'number' || !d.contracts) return undefined;
    for (const name of CONTRACT_NAMES) if (typeof d.contracts[name] !== 'string') return undefined;
    return d;
  } catch {
    return undefined;
  }
}

/** Writes a deployment file atomically (temp file, fsync, rename, fsync dir). */
export async function writeDeployment(deploymentFile: string, deployment: Deployment): Promise<void> {
  await writeFileAtomic(deploymentFile, `${JSON.stringify(deployment, null, 2)}\n`, { createDir: 0o755, syncDir: true });
}

/**
 * Whether `deployment` is usable on the chain `provider` is connected to: same chain id, same compiled
 * code (bytecodeHash), and code present at all four addresses.
 */
export async function isDeploymentLive(provider: Provider, deployment: Deployment): Promise<boolean> {
  const chainId = Number((await provider.getNetwork()).chainId);
  if (chainId !== deployment.chainId || deployment.bytecodeHash !== BYTECODE_HASH) return false;
  const codes = await Promise.all(CONTRACT_NAMES.map((n) => provider.getCode(deployment.contracts[n])));
  return codes.every((c) => c !== '0x' && c.length > 2);
}

/**
 * Idempotent deployment: reuses the deployment in `deploymentFile` when it is live on this chain (see
 * isDeploymentLive); otherwise deploys all four contracts, wires them, and writes the file atomically.
 * Options apply only to a new deployment.
 */
export async function deployOrLoad(signer: Signer, deploymentFile: string, opts: DeployOptions = {}): Promise<DeployResult> {
  const existing = readDeployment(deploymentFile);
  if (existing && (await isDeploymentLive(providerOf(signer), existing))) {
    return { deployment: existing, contracts: connectContracts(existing, signer), reused: true };
  }
  const { deployment, contracts } = await deployContracts(signer, opts);
  await writeDeployment(deploymentFile, deployment);
  return { deployment, contracts, reused: false };
}
