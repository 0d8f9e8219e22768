/** The chain (embedded or given) and the patient's account from the gateway keystore, for `vitalgate consent …`. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { keccak256, toUtf8Bytes, Wallet, type JsonRpcProvider } from 'ethers';
import { connectContracts, type Deployment, type VitalgateContracts } from '@vitalgate/contracts';
import { ChainLink, Keystore, dataDirLayout } from '@vitalgate/edge-gateway';
import { keystorePassphrase } from '../../passphrase.js';
import { chainDir, startEmbeddedChain, type EmbeddedChain } from '../../chain/embedded.js';
import { requirePatientId, type ChainOpts, type PatientOpts } from './options.js';

export interface ChainSession {
  url: string;
  deploymentFile: string;
  embedded?: EmbeddedChain;
  stop(): Promise<void>;
}

export async function openChain(o: ChainOpts): Promise<ChainSession> {
  if (o.deployment && !o.chainUrl) throw new Error('--deployment goes with --chain-url (the embedded chain has its own deployment file)');
  if (o.chainUrl) {
    return { url: o.chainUrl, deploymentFile: o.deployment ?? join(chainDir(o.dataDir), 'deployment.json'), stop: async () => {} };
  }
  const embedded = await startEmbeddedChain(chainDir(o.dataDir));
  return { url: embedded.url, deploymentFile: embedded.deploymentFile, embedded, stop: () => embedded.stop() };
}

export interface PatientSession {
  patientId: string;
  patient: Wallet;
  link: ChainLink;
  provider: JsonRpcProvider;
  deployment: Deployment;
  /** Read-only contracts. */
  contracts: VitalgateContracts;
  /** The dev admin (embedded chain only). */
  admin?: Wallet;
}

/** Opens the keystore and the chain, runs `fn` with the patient's account, and closes everything. */
export async function withPatient<T>(o: PatientOpts, fn: (s: PatientSession) => Promise<T>): Promise<T> {
  const patientId = requirePatientId(o.patient);
  const keysDir = dataDirLayout(o.dataDir).keys;
  if (!existsSync(join(keysDir, 'keystore.json'))) {
    throw new Error(`no gateway keystore in ${keysDir} (pass the gateway's --data-dir; the gateway creates it on first start)`);
  }
  const { passphrase } = await keystorePassphrase({ passphraseFile: o.passphraseFile, allowDemo: o.allowDemoPassphrase, keysDir });
  const keystore = await Keystore.open(keysDir, passphrase);
  const chain = await openChain(o);
  let link: ChainLink | undefined;
  try {
    link = await ChainLink.connect({ url: chain.url, deploymentFile: chain.deploymentFile, ...(chain.embedded ? { adminKey: chain.embedded.adminKey } : {}) }, keystore);
    const patient = await link.patientWallet(patientId);
    return await fn({
      patientId, patient, link, provider: link.provider, deployment: link.deployment,
      contracts: connectContracts(link.deployment, link.provider),
      ...(chain.embedded ? { admin: new Wallet(chain.embedded.adminKey, link.provider) } : {}),
    });
  } finally {
    link?.provider.destroy();
    await chain.stop();
  }
}

/** Dev chain only: makes sure the account can pay for a transaction. */
export async function topUp(s: PatientSession, address: string): Promise<void> {
  if (!s.admin) return;
  if ((await s.provider.getBalance(address)) < 10n ** 17n) await (await s.admin.sendTransaction({ to: address, value: 10n ** 18n })).wait();
}

/** A placeholder clinician encryption key (32 bytes, X25519-sized) derived from its address: dev chain only. */
export function placeholderEncryptionKey(address: string): string {
  return keccak256(toUtf8Bytes(`vitalgate/dev-placeholder-encryption-key/${address.toLowerCase()}`));
}
