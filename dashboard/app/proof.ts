/**
 * Proof of integrity, checked in this browser against the chain itself, not taken from ingest: a
 * batch is "verified" when its bytes hash to its id (the worker checks that before decrypting), its
 * Merkle proof leads from that id to a root (checked here, by OpenZeppelin's StandardMerkleTree
 * rules: merkleProofHolds, through MerkleProofMemo so that batches under one root share the steps
 * already hashed), and DataAnchor, asked over the chain's JSON-RPC, says the gateway anchored that
 * root (isRecorded: one call per distinct root, remembered, however many batches it covers);
 * "pending" while no anchor covers it yet; "failed" otherwise. Ingest only says where to look
 * (root, proof); a wrong answer from it can only make a batch fail.
 */
import { Contract, JsonRpcProvider } from 'ethers';
import { MAX_PROOF_IDS, MerkleProofMemo } from '@vitalgate/protocol';
import type { Api, BundleAnchor } from './api.js';

export type ProofState = 'verified' | 'pending' | 'failed';
export interface ChainConfig { rpcUrl: string; chainId: number; dataAnchor: string; consent: string }

const ABI = ['function isRecorded(address submitter, bytes32 root) view returns (bool)'];
/** Roots remembered as anchored (a root is never un-anchored); beyond this many the oldest are asked again. */
const MAX_ROOTS = 10_000;

export class ProofChecker {
  private readonly anchor: Contract | undefined;
  /** "gateway/root" → whether the chain has it (a pending ask is its promise; only a yes is kept). */
  private readonly roots = new Map<string, Promise<boolean>>();
  /** Calls made to the chain: the figure that should grow with roots, not batches. */
  chainCalls = 0;
  /** merkleProofHolds, remembering the steps of proofs that held: batches under one root share their hashing. */
  private readonly merkle = new MerkleProofMemo();

  constructor(private readonly api: Api, chain: ChainConfig | null) {
    if (chain) this.anchor = new Contract(chain.dataAnchor, ABI, new JsonRpcProvider(chain.rpcUrl, chain.chainId, { staticNetwork: true }));
  }

  get available(): boolean {
    return this.anchor !== undefined;
  }

  /**
   * Several batches of one patient, their anchors asked of ingest in requests of up to
   * MAX_PROOF_IDS (GET /v1/clinician/proofs/{patient}?ids=): a live view's pending batches, every few
   * seconds, in one request instead of one each. A batch whose check could not be made is pending.
   */
  async checkMany(patient: string, ids: readonly string[]): Promise<Map<string, ProofState>> {
    const out = new Map<string, ProofState>();
    if (!this.anchor) {
      for (const id of ids) out.set(id, 'pending');
      return out;
    }
    for (let i = 0; i < ids.length; i += MAX_PROOF_IDS) {
      const part = ids.slice(i, i + MAX_PROOF_IDS);
      const anchors = await this.api.proofs(patient, part);
      await Promise.all(part.map(async (id) => out.set(id, await this.checkAnchor(id, anchors[id]).catch(() => 'pending' as const))));
    }
    return out;
  }

  /**
   * One batch with the anchor its bundle item carries (null or undefined: not anchored yet). Throws
   * when the chain cannot be asked: the caller keeps the batch pending and asks again later.
   */
  async checkAnchor(id: string, a: Pick<BundleAnchor, 'gateway' | 'root' | 'proof'> | null | undefined): Promise<ProofState> {
    if (!this.anchor || !a) return 'pending';
    if (!this.merkle.holds(a.root, id, a.proof)) return 'failed';
    return (await this.anchored(a.gateway, a.root)) ? 'verified' : 'failed';
  }

  private anchored(gateway: string, root: string): Promise<boolean> {
    const k = `${gateway.toLowerCase()}/${root.toLowerCase()}`;
    const hit = this.roots.get(k);
    if (hit) return hit;
    if (this.roots.size >= MAX_ROOTS) this.roots.delete(this.roots.keys().next().value!);
    this.chainCalls++;
    const ask = this.anchor!.getFunction('isRecorded').staticCall(gateway, root) as Promise<boolean>;
    this.roots.set(k, ask);
    ask.then((yes) => { if (!yes) this.roots.delete(k); }, () => this.roots.delete(k));
    return ask;
  }
}
