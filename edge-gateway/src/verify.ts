/**
 * `vitalgate verify`: proves every stored batch against the chain without any key. For each batch:
 * its bytes (read from its pack) hash to its id; its anchor's range of ids rebuilds the root that
 * was recorded; the batch's Merkle proof leads to that root; and the root is anchored on chain by
 * this gateway, in a mined transaction whose block time is reported.
 */
import { bytesToHex } from '@noble/hashes/utils.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { buildBatchTree, connectContracts, createProvider, readDeployment, verifyBatchProof } from '@vitalgate/contracts';
import { readAnchorLog } from './anchorer.js';
import { BatchIndex } from './batch-index.js';
import { dataDirLayout } from './data-dir.js';
import { PackStore } from './pack-store.js';

export interface VerifyFailure { id: string; reason: string }

export interface VerifyReport {
  batches: number;
  verified: number;
  failed: number;
  unanchored: number;
  failures: VerifyFailure[];
  anchors: Array<{ root: string; batches: number; txHash: string; blockNumber: number; blockTimestamp: number; ok: boolean }>;
}

export async function verifyStore(dataDir: string, chain: { url: string; deploymentFile: string }, onProgress?: (done: number, total: number) => void): Promise<VerifyReport> {
  const dirs = dataDirLayout(dataDir);
  const records = await BatchIndex.load(dirs.index);
  const lines = await readAnchorLog(dirs.anchors);
  const deployment = await readDeployment(chain.deploymentFile);
  if (!deployment) throw new Error(`no deployment at ${chain.deploymentFile}`);
  const provider = createProvider(chain.url, deployment.chainId);
  const { dataAnchor } = connectContracts(deployment, provider);
  const store = new PackStore(dirs.store);
  const report: VerifyReport = { batches: records.length, verified: 0, failed: 0, unanchored: 0, failures: [], anchors: [] };
  const fail = (id: string, reason: string) => {
    report.failed++;
    report.failures.push({ id, reason });
  };

  // Which anchor covers each index position, after checking the anchor itself against the chain.
  const rootAt: Array<{ ok: boolean; root: string; proofOf: (id: string) => string[]; why?: string } | undefined> = new Array(records.length);
  for (const a of lines) {
    if (a.type !== 'anchored') continue;
    const ids = records.slice(a.from, a.to).map((r) => r.id);
    const tree = buildBatchTree(ids);
    let ok = true;
    let why: string | undefined;
    if (tree.root !== a.root) { ok = false; why = `the index no longer rebuilds anchored root ${a.root}`; }
    const rec = await dataAnchor.rootRecord(a.root).catch(() => undefined);
    if (ok && (!rec || /^0x0+$/.test(String(rec.submitter)))) { ok = false; why = `root ${a.root} is not anchored on chain`; }
    const receipt = ok ? await provider.getTransactionReceipt(a.txHash) : null;
    if (ok && (!receipt || receipt.status !== 1 || receipt.blockNumber !== a.blockNumber)) { ok = false; why = `anchor transaction ${a.txHash} is not mined as recorded`; }
    const block = ok ? await provider.getBlock(a.blockNumber) : null;
    report.anchors.push({ root: a.root, batches: a.count, txHash: a.txHash, blockNumber: a.blockNumber, blockTimestamp: block?.timestamp ?? 0, ok });
    const entry = { ok, root: a.root, proofOf: (id: string) => tree.proof(`0x${id}`), why };
    for (let i = a.from; i < a.to && i < records.length; i++) rootAt[i] = entry;
  }

  const packs = new Map<string, Uint8Array>();
  for (const [i, r] of records.entries()) {
    onProgress?.(i, records.length);
    let bytes = packs.get(r.pack);
    if (!bytes) {
      try {
        bytes = await store.readPack(r.pack);
      } catch (e) {
        fail(r.id, `pack ${r.pack} unreadable: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        continue;
      }
      packs.clear(); // packs are read in index order; keep one in memory
      packs.set(r.pack, bytes);
    }
    const body = bytes.subarray(r.offset, r.offset + r.bytes);
    if (body.length !== r.bytes || bytesToHex(sha256(body)) !== r.id) {
      fail(r.id, 'stored bytes do not hash to the batch id: the batch was altered');
      continue;
    }
    const anchor = rootAt[i];
    if (!anchor) {
      report.unanchored++;
      continue;
    }
    if (!anchor.ok) {
      fail(r.id, anchor.why ?? 'anchor invalid');
      continue;
    }
    if (!verifyBatchProof(anchor.root, `0x${r.id}`, anchor.proofOf(r.id))) {
      fail(r.id, `proof does not lead to root ${anchor.root}`);
      continue;
    }
    report.verified++;
  }
  return report;
}

