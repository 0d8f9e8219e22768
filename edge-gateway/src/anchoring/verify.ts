/**
 * `vitalgate verify`: proves every stored batch against the chain without any key. For each batch:
 * its bytes (read from its pack) hash to its id; the anchor that names it rebuilds the root that
 * was recorded; the batch's Merkle proof leads to that root; and the root is anchored on chain by
 * this gateway's own account, in a mined transaction whose block time is reported.
 *
 * It also works from the chain back: every root this gateway anchored must be in the local anchor
 * log, and every batch an anchor names must be in the store. So deleting batches together with the
 * index and anchor log lines that named them is still found.
 *
 * A keyless audit module: it opens no keystore. Exported on its own subpath,
 * `@vitalgate/edge-gateway/verify`, as well as from the package entry.
 */
import { readFile } from 'node:fs/promises';
import { getAddress } from 'ethers';
import { bytesToHex } from '@noble/hashes/utils.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { buildBatchTree, connectContracts, createProvider, readDeployment, verifyBatchProof } from '@vitalgate/contracts';
import { readAnchors } from './anchorer.js';
import { BatchIndex } from '../store/batch-index.js';
import { batchMatches, isFiltering, type BatchFilter } from '../store/batch-filter.js';
import { dataDirLayout } from '../store/data-dir.js';
import { PackStore, readStoredRanges } from '../store/pack-store.js';

export interface VerifyFailure { id: string; reason: string }

export interface VerifyReport {
  /** The gateway account whose roots were checked. */
  gateway?: string;
  batches: number;
  verified: number;
  failed: number;
  unanchored: number;
  failures: VerifyFailure[];
  anchors: Array<{ root: string; batches: number; txHash: string; blockNumber: number; blockTimestamp: number; ok: boolean }>;
  /** Roots this gateway anchored on chain that the local anchor log does not have. */
  onChainOnly: Array<{ root: string; batches: number; txHash: string; blockNumber: number }>;
}

/** The gateway's chain account as recorded in its data directory (public, written at connect). */
export async function readGatewayAccount(dataDir: string): Promise<string | undefined> {
  try {
    const v = JSON.parse(await readFile(dataDirLayout(dataDir).account, 'utf8')) as { address?: unknown };
    return typeof v.address === 'string' ? getAddress(v.address) : undefined;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read ${dataDirLayout(dataDir).account}: ${(e as Error).message}`);
  }
}

export async function verifyStore(
  dataDir: string,
  chain: { url: string; deploymentFile: string; gateway?: string },
  onProgress?: (done: number, total: number) => void,
  filter?: BatchFilter,
): Promise<VerifyReport> {
  const dirs = dataDirLayout(dataDir);
  const all = await BatchIndex.load(dirs.index);
  const filtered = isFiltering(filter);
  const records = filtered ? all.filter((r) => batchMatches(filter, r)) : all;
  const selected = new Set(records.map((r) => r.id));
  // With a filter, only the anchors covering a selected batch are proven (roots on chain that the
  // local anchor log lacks are still reported: they cannot be attributed to any batch).
  const anchors = (await readAnchors(dirs.anchors, all)).filter((a) => !filtered || a.ids.some((id) => selected.has(id)));
  const deployment = await readDeployment(chain.deploymentFile);
  if (!deployment) throw new Error(`no deployment at ${chain.deploymentFile}`);
  const gateway = chain.gateway ? getAddress(chain.gateway) : await readGatewayAccount(dataDir);
  if (!gateway && (anchors.length > 0 || records.length > 0)) {
    throw new Error(`the gateway's chain account is not known: ${dirs.account} is missing; pass --gateway <address>`);
  }
  const provider = createProvider(chain.url, deployment.chainId);
  const { dataAnchor } = connectContracts(deployment, provider);
  const store = new PackStore(dirs.store);
  const report: VerifyReport = { gateway, batches: records.length, verified: 0, failed: 0, unanchored: 0, failures: [], anchors: [], onChainOnly: [] };
  const fail = (id: string, reason: string) => {
    report.failed++;
    report.failures.push({ id, reason });
  };

  // What this gateway anchored, according to the chain.
  const onChain = new Map<string, { txHash: string; blockNumber: number; count: number }>();
  if (gateway) {
    for (const ev of await dataAnchor.queryFilter(dataAnchor.filters.Anchored(undefined, gateway), deployment.deployedAtBlock)) {
      onChain.set(ev.args.root, { txHash: ev.transactionHash, blockNumber: ev.blockNumber, count: Number(ev.args.count) });
    }
  }

  // The anchor covering each batch id, after checking the anchor itself against the chain.
  type Cover = { ok: boolean; root: string; proofOf: (id: string) => string[]; why?: string };
  const coverOf = new Map<string, Cover>();
  const inIndex = new Set(all.map((r) => r.id));
  for (const a of anchors) {
    const seen = onChain.get(a.root);
    const mined = a.mined ?? (seen && { txHash: seen.txHash, blockNumber: seen.blockNumber, blockTimestamp: 0 });
    if (!mined) continue; // written ahead, never sent: its batches are not anchored yet
    const tree = buildBatchTree(a.ids);
    let ok = true;
    let why: string | undefined;
    if (tree.root !== a.root) { ok = false; why = `the anchor log's batch ids no longer rebuild anchored root ${a.root}`; }
    if (ok && !seen) { ok = false; why = `root ${a.root} is not anchored on chain by this gateway (${gateway})`; }
    const receipt = ok ? await provider.getTransactionReceipt(mined.txHash) : null;
    if (ok && (!receipt || receipt.status !== 1 || receipt.blockNumber !== mined.blockNumber)) { ok = false; why = `anchor transaction ${mined.txHash} is not mined as recorded`; }
    if (ok && receipt && getAddress(receipt.from) !== gateway) { ok = false; why = `anchor transaction ${mined.txHash} was sent by ${receipt.from}, not this gateway (${gateway})`; }
    const block = ok ? await provider.getBlock(mined.blockNumber) : null;
    report.anchors.push({ root: a.root, batches: a.count, txHash: mined.txHash, blockNumber: mined.blockNumber, blockTimestamp: block?.timestamp ?? 0, ok });
    const cover: Cover = { ok, root: a.root, proofOf: (id: string) => tree.proof(`0x${id}`), why };
    for (const id of a.ids) {
      if (!coverOf.get(id)?.ok) coverOf.set(id, cover);
      if (ok && !inIndex.has(id)) fail(id, `anchored under root ${a.root} but missing from the store's index: the batch was lost or removed`);
    }
  }
  const local = new Set(anchors.map((a) => a.root));
  for (const [root, ev] of onChain) {
    if (local.has(root)) continue;
    report.onChainOnly.push({ root, batches: ev.count, txHash: ev.txHash, blockNumber: ev.blockNumber });
    fail(root, `root anchored on chain by this gateway (${ev.count} batches, tx ${ev.txHash}) is missing from the local anchor log: batches, index or log were removed`);
  }

  // Batch by batch in index order, reading only each batch's byte range of its pack.
  let done = 0;
  for await (const { pack, records: recs, slices, error } of readStoredRanges(store, records)) {
    const unreadable = error ? `pack ${pack} unreadable: ${error.code ?? error.message}` : '';
    for (const [i, r] of recs.entries()) {
      onProgress?.(done++, records.length);
      const body = slices?.[i];
      if (!body) {
        fail(r.id, unreadable);
        continue;
      }
      if (body.length !== r.bytes || bytesToHex(sha256(body)) !== r.id) {
        fail(r.id, 'stored bytes do not hash to the batch id: the batch was altered');
        continue;
      }
      const anchor = coverOf.get(r.id);
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
  }
  return report;
}
