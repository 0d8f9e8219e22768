/**
 * `vitalgate verify --from-ingest`: proves the cloud copy against the chain, reading only what
 * ingest serves (as the patients' gateway) and what the chain holds. No batch is decrypted.
 *
 *   - From the chain back: every root this gateway anchored must have its anchor record in the
 *     cloud, and the record's batch ids must rebuild that root.
 *   - Every batch a record names must be in the cloud, and its bytes must hash to its id.
 *   - Every batch in the cloud must be under some anchored root (otherwise it is `unanchored`:
 *     normal for the last few seconds of a running gateway, a finding once it has stopped).
 *   - The catalog must list exactly the batches storage holds, each once.
 */
import { Wallet, getAddress } from 'ethers';
import { bytesToHex } from '@noble/hashes/utils.js';
import { buildBatchTree, connectContracts, createProvider, readDeployment } from '@vitalgate/contracts';
import { IngestClient, type IngestResponse } from '@vitalgate/ingest/client';
import { BATCH_KINDS, batchId, parseAnchorRecord } from '@vitalgate/protocol';
import { dataDirLayout } from '../store/data-dir.js';
import { Keystore } from '../keys/keystore.js';
import type { VerifyFailure } from '../anchoring/verify.js';

export interface CloudVerifyReport {
  gateway: string;
  /** Batches stored in the cloud for this gateway's patients. */
  batches: number;
  /** Of those, hashed to their id and covered by an anchored root whose record rebuilds it. */
  verified: number;
  unanchored: number;
  failed: number;
  failures: VerifyFailure[];
  anchors: Array<{ root: string; batches: number; txHash: string; blockNumber: number; ok: boolean }>;
  /** Catalog rows against stored objects: the ids only one side has. */
  catalog: { rows: number; missing: number; extra: number; duplicated: number } | 'not served';
}

const toWallet = (secret: Uint8Array) => new Wallet(`0x${bytesToHex(secret)}`);

function need(r: IngestResponse, what: string): Record<string, unknown> {
  if (r.status !== 200 || !r.json) throw new Error(`ingest refused ${what}: ${r.status} ${r.json?.error ?? ''} ${r.json?.message ?? ''}`.trim());
  return r.json;
}

export async function verifyIngest(
  dataDir: string,
  passphrase: string,
  url: string,
  chain: { url: string; deploymentFile: string },
  onProgress?: (done: number, total: number) => void,
): Promise<CloudVerifyReport> {
  const keystore = await Keystore.open(dataDirLayout(dataDir).keys, passphrase);
  const gatewayKey = await keystore.getSecret('eth-gateway');
  if (!gatewayKey) throw new Error(`the gateway of ${dataDir} has no chain account yet, so it has never uploaded anything`);
  const wallet = toWallet(gatewayKey);
  gatewayKey.fill(0);
  const gateway = getAddress(wallet.address);
  const client = new IngestClient(url, wallet);
  const deployment = await readDeployment(chain.deploymentFile);
  if (!deployment) throw new Error(`no deployment at ${chain.deploymentFile}`);
  const provider = createProvider(chain.url, deployment.chainId);
  const report: CloudVerifyReport = { gateway, batches: 0, verified: 0, unanchored: 0, failed: 0, failures: [], anchors: [], catalog: 'not served' };
  const fail = (id: string, reason: string) => {
    report.failed++;
    report.failures.push({ id, reason });
  };
  try {
    const { dataAnchor } = connectContracts(deployment, provider);
    const onChain = new Map<string, { txHash: string; blockNumber: number }>();
    for (const ev of await dataAnchor.queryFilter(dataAnchor.filters.Anchored(undefined, gateway), deployment.deployedAtBlock)) {
      onChain.set(ev.args.root, { txHash: ev.transactionHash, blockNumber: ev.blockNumber });
    }

    // Every stored batch, per patient (by account), and what the catalog says about each.
    const stored = new Map<string, string>(); // id → patient account
    let rows = 0;
    let missing = 0;
    let extra = 0;
    let duplicated = 0;
    let catalogServed = true;
    for (const patientId of await keystore.patients()) {
      const patientKey = await keystore.getSecret(`eth-patient-${patientId}`);
      if (!patientKey) continue; // never registered on chain, so never uploaded
      const account = toWallet(patientKey).address;
      patientKey.fill(0);
      const ids = new Set<string>();
      let after: string | null = null;
      do {
        const page = need(await client.request('GET', `/v1/batches?patientAccount=${account}${after ? `&after=${after}` : ''}`), `to list ${patientId}'s batches`);
        for (const id of page.ids as string[]) {
          ids.add(id);
          stored.set(id, account);
        }
        after = page.next as string | null;
      } while (after);
      const listed = new Set<string>();
      // Readings and summaries are cataloged apart, by kind: together they are what storage holds.
      for (const kind of BATCH_KINDS) {
        let cursor: string | null = null;
        do {
          const r = await client.request('GET', `/v1/catalog/batches?patientAccount=${account}&kind=${kind}&from=0&to=${Number.MAX_SAFE_INTEGER}${cursor ? `&after=${cursor}` : ''}`);
          if (r.status === 404 && r.json?.error === 'no-such-route') {
            catalogServed = false;
            break;
          }
          const page = need(r, `the catalog of ${patientId}`);
          for (const e of page.entries as Array<{ id: string }>) {
            rows++;
            if (listed.has(e.id)) duplicated++;
            listed.add(e.id);
            if (!ids.has(e.id)) extra++;
          }
          cursor = page.next as string | null;
        } while (cursor);
        if (!catalogServed) break;
      }
      if (catalogServed) for (const id of ids) if (!listed.has(id)) missing++;
    }
    report.batches = stored.size;
    if (catalogServed) {
      report.catalog = { rows, missing, extra, duplicated };
      if (missing || extra || duplicated) fail('catalog', `the catalog does not match storage: ${missing} stored batches missing from it, ${extra} rows with no stored batch, ${duplicated} listed twice`);
    }

    // The anchor records in the cloud, checked against the chain.
    const records = new Map<string, { ids: string[] }>();
    let after: string | null = null;
    do {
      const page = need(await client.request('GET', `/v1/anchors${after ? `?after=${after}` : ''}`), 'to list anchor records');
      for (const root of page.roots as string[]) {
        const got = await client.request('GET', `/v1/anchors/${root}`);
        const rec = got.status === 200 ? parseAnchorRecord(got.body) : undefined;
        if (!rec?.ok) {
          fail(root, `anchor record ${root} is unreadable from ingest (${got.status})`);
          continue;
        }
        records.set(root, { ids: rec.value.batches.map((b) => b.id) });
      }
      after = page.next as string | null;
    } while (after);

    const covered = new Set<string>();
    for (const [root, ev] of onChain) {
      const rec = records.get(root);
      const ok = !!rec && buildBatchTree(rec.ids).root === root;
      report.anchors.push({ root, batches: rec?.ids.length ?? 0, txHash: ev.txHash, blockNumber: ev.blockNumber, ok });
      if (!rec) {
        fail(root, `root anchored on chain (tx ${ev.txHash}) has no anchor record in the cloud`);
        continue;
      }
      if (!ok) {
        fail(root, `the cloud's anchor record for ${root} does not rebuild that root`);
        continue;
      }
      for (const id of rec.ids) {
        covered.add(id);
        if (!stored.has(id)) fail(id, `anchored under root ${root} but not in the cloud: the batch was lost or removed`);
      }
    }
    for (const root of records.keys()) if (!onChain.has(root)) fail(root, `the cloud has an anchor record for ${root}, but the chain holds no such root from ${gateway}`);

    let done = 0;
    for (const [id, account] of stored) {
      onProgress?.(done++, stored.size);
      const got = await client.request('GET', `/v1/batches/${id}?patientAccount=${account}`);
      if (got.status !== 200) {
        fail(id, `ingest listed the batch but answered ${got.status} ${got.json?.error ?? ''}`.trim());
        continue;
      }
      if (batchId(got.body) !== id) {
        fail(id, 'the bytes ingest returned do not hash to the batch id: the cloud copy was altered');
        continue;
      }
      if (!covered.has(id)) {
        report.unanchored++;
        continue;
      }
      report.verified++;
    }
    return report;
  } finally {
    provider.destroy();
  }
}
