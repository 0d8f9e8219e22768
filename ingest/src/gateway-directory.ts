/**
 * What ingest asks the chain about gateways: whether an account is a registered, unbanned gateway,
 * and which gateway a patient account is bound to. Answers are kept for a few seconds, so an
 * upload burst costs one RPC per gateway and patient, while a ban or a rebinding takes effect
 * within that time.
 */
import { getAddress, type Provider } from 'ethers';
import { connectContracts, type Deployment } from '@vitalgate/contracts';

export interface GatewayDirectory {
  isActiveGateway(account: string): Promise<boolean>;
  gatewayOf(patientAccount: string): Promise<string | undefined>;
  /** Whether `gateway` has anchored `root` on chain (DataAnchor keeps roots per submitter). */
  isAnchored(gateway: string, root: string): Promise<boolean>;
}

export class ChainGatewayDirectory implements GatewayDirectory {
  private readonly cache = new Map<string, { at: number; value: unknown }>();
  private readonly registry;
  private readonly dataAnchor;

  constructor(deployment: Deployment, provider: Provider, private readonly ttlMs = 5_000) {
    const c = connectContracts(deployment, provider);
    this.registry = c.registry;
    this.dataAnchor = c.dataAnchor;
  }

  private async cached<T>(key: string, load: () => Promise<T>): Promise<T> {
    const hit = this.cache.get(key);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.value as T;
    const value = await load();
    this.cache.set(key, { at: Date.now(), value });
    return value;
  }

  isActiveGateway(account: string): Promise<boolean> {
    const a = getAddress(account);
    return this.cached(`gw ${a}`, async () => (await this.registry.isGateway(a)) && !(await this.registry.isBanned(a)));
  }

  gatewayOf(patientAccount: string): Promise<string | undefined> {
    const p = getAddress(patientAccount);
    return this.cached(`of ${p}`, async () => {
      if (!(await this.registry.isPatient(p))) return undefined;
      return getAddress(await this.registry.gatewayOf(p));
    });
  }

  /** Not cached when false: a root the gateway has just mined must be found on the next retry. */
  async isAnchored(gateway: string, root: string): Promise<boolean> {
    const k = `anchored ${getAddress(gateway)} ${root}`;
    if (this.cache.has(k)) return true;
    const yes = await this.dataAnchor.isRecorded(getAddress(gateway), root);
    if (yes) this.cache.set(k, { at: Date.now(), value: true });
    return yes;
  }
}
