/**
 * Proof of integrity, checked in this browser against the chain itself, not taken from ingest: a
 * batch is "verified" when its bytes hash to its id (the worker checks that before decrypting) and
 * DataAnchor, asked over the chain's JSON-RPC, says its Merkle proof leads to a root the patient's
 * gateway anchored; "pending" while no anchor covers it yet; "failed" otherwise. Ingest only says
 * where to look (root, proof); a wrong answer from it can only make a batch fail.
 */
import { Contract, JsonRpcProvider } from 'ethers';
import type { Api } from './api.js';

export type ProofState = 'verified' | 'pending' | 'failed';
export interface ChainConfig { rpcUrl: string; chainId: number; dataAnchor: string; consent: string }

const ABI = ['function verifyBatch(address gateway, bytes32 root, bytes32 batchId, bytes32[] proof) view returns (bool)'];

export class ProofChecker {
  private readonly anchor: Contract | undefined;

  constructor(private readonly api: Api, chain: ChainConfig | null) {
    if (chain) this.anchor = new Contract(chain.dataAnchor, ABI, new JsonRpcProvider(chain.rpcUrl, chain.chainId, { staticNetwork: true }));
  }

  get available(): boolean {
    return this.anchor !== undefined;
  }

  async check(patient: string, id: string): Promise<ProofState> {
    if (!this.anchor) return 'pending';
    const a = await this.api.proof(patient, id);
    if (!a) return 'pending';
    const ok = (await this.anchor.getFunction('verifyBatch').staticCall(a.gateway, a.root, `0x${id}`, a.proof)) as boolean;
    return ok ? 'verified' : 'failed';
  }
}
