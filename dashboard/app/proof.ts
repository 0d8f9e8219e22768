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
/** Most eth_calls in one JSON-RPC batch request. */
const RPC_BATCH = 100;

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

  /** isRecorded calls waiting to go out together (one JSON-RPC batch per tick, as ethers did). */
  private queue: Array<{ gateway: string; root: string; resolve: (v: boolean) => void; reject: (e: Error) => void }> = [];

  /**
   * DataAnchor.isRecorded over the chain's JSON-RPC (eth_call, protocol/src/anchor-call.ts), no
   * ethers: the calls asked for in one tick go as one JSON-RPC batch (up to RPC_BATCH), so a week
   * of history's 170 roots is 2 requests, not 170. Throws when the chain cannot answer; the batch
   * then stays pending.
   */
  private isRecorded(gateway: string, root: string): Promise<boolean> {
    return new Promise((resolve, reject) => {
      if (this.queue.push({ gateway, root, resolve, reject }) === 1) setTimeout(() => this.flush(), 0);
    });
  }

  private flush(): void {
    const c = this.chain!;
    const all = this.queue;
    this.queue = [];
    for (let i = 0; i < all.length; i += RPC_BATCH) {
      const part = all.slice(i, i + RPC_BATCH);
      const first = this.rpcId + 1;
      this.rpcId += part.length;
      const body = part.map((q, k) => ({ jsonrpc: '2.0', id: first + k, method: 'eth_call', params: [{ to: c.dataAnchor, data: isRecordedCallData(q.gateway, q.root) }, 'latest'] }));
      void fetch(c.rpcUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, credentials: 'omit', body: JSON.stringify(body) })
        .then(async (res) => {
          if (!res.ok) throw new Error(`the chain answered ${res.status}`);
          const answers = (await res.json()) as Array<{ id?: number; result?: unknown; error?: { message?: string } }>;
          if (!Array.isArray(answers)) throw new Error('the chain did not answer the batch with a list');
          const byId = new Map(answers.map((a) => [a.id, a]));
          part.forEach((q, k) => {
            const a = byId.get(first + k);
            if (!a) return q.reject(new Error('the chain left a call unanswered'));
            if (a.error) return q.reject(new Error(`the chain refused the call: ${a.error.message ?? 'no reason'}`));
            const r = decodeBoolWord(a.result);
            return r.ok ? q.resolve(r.value) : q.reject(new Error(r.reason));
          });
        })
        .catch((e: Error) => part.forEach((q) => q.reject(e)));
    }
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
