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
import { MAX_PROOF_IDS, MerkleProofMemo, decodeBoolWord, isRecordedCallData } from '@vitalgate/protocol';
import type { Api, BundleAnchor } from './api.js';

export type ProofState = 'verified' | 'pending' | 'failed';
export interface ChainConfig { rpcUrl: string; chainId: number; dataAnchor: string; consent: string }

/** Roots remembered as anchored (a root is never un-anchored); beyond this many the oldest are asked again. */
const MAX_ROOTS = 10_000;

export class ProofChecker {
  private readonly chain: ChainConfig | undefined;
  private rpcId = 0;
  /** "gateway/root" → whether the chain has it (a pending ask is its promise; only a yes is kept). */
  private readonly roots = new Map<string, Promise<boolean>>();
  /** Calls made to the chain: the figure that should grow with roots, not batches. */
  chainCalls = 0;
  /** merkleProofHolds, remembering the steps of proofs that held: batches under one root share their hashing. */
  private readonly merkle = new MerkleProofMemo();

  constructor(private readonly api: Api, chain: ChainConfig | null) {
    this.chain = chain ?? undefined;
  }

  get available(): boolean {
    return this.chain !== undefined;
  }

  /**
   * Several batches of one patient, their anchors asked of ingest in requests of up to
   * MAX_PROOF_IDS (GET /v1/clinician/proofs/{patient}?ids=): a live view's pending batches, every few
   * seconds, in one request instead of one each. A batch whose check could not be made is pending.
   */
  async checkMany(patient: string, ids: readonly string[]): Promise<Map<string, ProofState>> {
    const out = new Map<string, ProofState>();
    if (!this.chain) {
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
    if (!this.chain || !a) return 'pending';
    if (!this.merkle.holds(a.root, id, a.proof)) return 'failed';
    return (await this.anchored(a.gateway, a.root)) ? 'verified' : 'failed';
  }

  /**
   * DataAnchor.isRecorded over the chain's JSON-RPC (eth_call, protocol/src/anchor-call.ts): one
   * static call, no ethers. Throws when the chain cannot answer; the batch then stays pending.
   */
  private async isRecorded(gateway: string, root: string): Promise<boolean> {
    const c = this.chain!;
    const res = await fetch(c.rpcUrl, {
      method: 'POST', headers: { 'content-type': 'application/json' }, credentials: 'omit',
      body: JSON.stringify({ jsonrpc: '2.0', id: ++this.rpcId, method: 'eth_call', params: [{ to: c.dataAnchor, data: isRecordedCallData(gateway, root) }, 'latest'] }),
    });
    if (!res.ok) throw new Error(`the chain answered ${res.status}`);
    const body = (await res.json()) as { result?: unknown; error?: { message?: string } };
    if (body.error) throw new Error(`the chain refused the call: ${body.error.message ?? 'no reason'}`);
    const r = decodeBoolWord(body.result);
    if (!r.ok) throw new Error(r.reason);
    return r.value;
  }

  private anchored(gateway: string, root: string): Promise<boolean> {
    const k = `${gateway.toLowerCase()}/${root.toLowerCase()}`;
    const hit = this.roots.get(k);
    if (hit) return hit;
    if (this.roots.size >= MAX_ROOTS) this.roots.delete(this.roots.keys().next().value!);
    this.chainCalls++;
    const ask = this.isRecorded(gateway, root);
    this.roots.set(k, ask);
    ask.then((yes) => { if (!yes) this.roots.delete(k); }, () => this.roots.delete(k));
    return ask;
  }
}
