/**
 * The gateway's link to the chain: its own signing key (sealed in the keystore, never on disk in
 * the clear), the deployed contracts, and, on a development chain where the admin key is at hand,
 * self-registration of the gateway and its patients so that `npm start` needs no setup.
 */
import { Wallet, type JsonRpcProvider } from 'ethers';
import {
  connectContracts, createProvider, readDeployment, type Deployment, type VitalgateContracts,
} from '@vitalgate/contracts';
import { bytesToHex } from '@noble/hashes/utils.js';
import type { Logger } from 'pino';
import { derivePatientRef, redactUrl } from '@vitalgate/protocol';
import type { Keystore } from '../keys/keystore.js';

export interface ChainOptions {
  url: string;
  deploymentFile: string;
  /**
   * Hex private key of a Registry admin. Only for development chains: with it the gateway
   * registers itself and binds its patients, and funds its account. Production registers gateways
   * and patients through the admin's own tooling.
   */
  adminKey?: string;
}

export class ChainLink {
  private readonly registered = new Set<string>();
  private readonly ensuring = new Map<string, Promise<void>>();
  private registrations: Promise<void> = Promise.resolve();
  private constructor(
    readonly provider: JsonRpcProvider,
    readonly deployment: Deployment,
    readonly wallet: Wallet,
    readonly contracts: VitalgateContracts,
    private readonly keystore: Keystore,
    private readonly admin: Wallet | undefined,
    private readonly log?: Logger,
  ) {}

  static async connect(o: ChainOptions, keystore: Keystore, log?: Logger): Promise<ChainLink> {
    let deployment: Deployment | undefined;
    try {
      deployment = await readDeployment(o.deploymentFile);
    } catch (e) {
      throw new Error(`cannot read the deployment ${o.deploymentFile}: ${(e as Error).message}`);
    }
    if (!deployment) throw new Error(`no deployment at ${o.deploymentFile} (run \`vitalgate chain up\` first)`);
    // A static network: ethers would otherwise keep re-detecting it (and log about it) while the chain is down.
    const provider = createProvider(o.url, deployment.chainId);
    const chainId = await provider.send('eth_chainId', []).catch((e: Error) => {
      throw new Error(`chain at ${redactUrl(o.url)} is not reachable: ${e.message.split('\n')[0]}`);
    }) as string;
    if (Number(chainId) !== deployment.chainId) throw new Error(`chain ${redactUrl(o.url)} has id ${Number(chainId)}, the deployment is for ${deployment.chainId}`);
    const wallet = new Wallet(bytesToHex0x(await keystore.getOrCreateSecret('eth-gateway')), provider);
    const admin = o.adminKey ? new Wallet(o.adminKey, provider) : undefined;
    const link = new ChainLink(provider, deployment, wallet, connectContracts(deployment, wallet), keystore, admin, log);
    if (admin) await link.selfRegister();
    return link;
  }

  get address(): string {
    return this.wallet.address;
  }

  /** The patient's chain account (its key sealed in this gateway's keystore). */
  async patientWallet(patientId: string): Promise<Wallet> {
    return new Wallet(bytesToHex0x(await this.keystore.getOrCreateSecret(`eth-patient-${patientId}`)), this.provider);
  }

  /**
   * The patient's keyed on-chain ref: only a holder of the patient's master secret can compute it.
   * Registering a patient (for a consent, before any reading) enrols them, as a first reading would.
   */
  async patientRef(patientId: string): Promise<string> {
    return derivePatientRef((await this.keystore.getOrEnroll(patientId)).pms, patientId);
  }

  private async selfRegister(): Promise<void> {
    const admin = this.admin!;
    const reg = connectContracts(this.deployment, admin).registry;
    if (!(await reg.isGateway(this.address))) {
      await (await reg.registerGateway(this.address)).wait();
      this.log?.info({ gateway: this.address }, 'registered this gateway on chain (development admin key)');
    }
    await this.fund(this.address);
  }

  private async fund(address: string): Promise<void> {
    const admin = this.admin;
    if (!admin) return;
    if ((await this.provider.getBalance(address)) < 10n ** 17n) {
      await (await admin.sendTransaction({ to: address, value: 10n ** 18n })).wait();
    }
  }

  /**
   * Makes sure the patient is registered and bound to this gateway (development chains only: needs
   * the admin key). Without the admin key this only checks, and says what an admin must do.
   */
  ensurePatient(patientId: string): Promise<void> {
    if (this.registered.has(patientId)) return Promise.resolve();
    // The anchorer and the uploader may ask at once: one registration per patient, not two racing.
    let p = this.ensuring.get(patientId);
    if (!p) {
      // One registration at a time: they are sent from one admin account, and concurrent sends
      // from one account race for the same nonce.
      const run = this.registrations.then(() => this.registerPatient(patientId));
      this.registrations = run.catch(() => undefined);
      p = run.finally(() => this.ensuring.delete(patientId));
      this.ensuring.set(patientId, p);
    }
    return p;
  }

  private async registerPatient(patientId: string): Promise<void> {
    const patient = await this.patientWallet(patientId);
    const reg = this.contracts.registry;
    if (await reg.isPatient(patient.address)) {
      if ((await reg.gatewayOf(patient.address)) !== this.address && this.admin) {
        await (await connectContracts(this.deployment, this.admin).registry.setPatientGateway(patient.address, this.address)).wait();
      }
    } else if (this.admin) {
      await (await connectContracts(this.deployment, this.admin).registry.registerPatient(patient.address, await this.patientRef(patientId), this.address)).wait();
      await this.fund(patient.address);
      this.log?.info({ patientId, account: patient.address }, 'registered patient on chain, served by this gateway');
    } else {
      throw new Error(`patient ${patientId} (${patient.address}) is not registered on chain; an admin must register it with this gateway (${this.address})`);
    }
    this.registered.add(patientId);
  }
}

function bytesToHex0x(b: Uint8Array): string {
  return `0x${bytesToHex(b)}`;
}
