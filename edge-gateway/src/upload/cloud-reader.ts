/**
 * Reads a gateway's batches back from ingest (the cloud copy), as the patients' own gateway: the
 * requests are signed with the gateway's chain account, and every batch is checked against its id
 * and opened with the patient's key from this gateway's keystore. Nothing is decrypted elsewhere.
 */
import { Wallet } from 'ethers';
import { bytesToHex } from '@noble/hashes/utils.js';
import { batchId } from '@vitalgate/protocol';
import { IngestClient } from '@vitalgate/ingest/client';
import { openOne, type OpenedBatch } from '../store/batch-reader.js';
import { dataDirLayout } from '../store/data-dir.js';
import { Keystore } from '../keys/keystore.js';

const toWallet = (secret: Uint8Array) => new Wallet(`0x${bytesToHex(secret)}`);

/** As readStore: summaries only when asked for. */
export async function* readIngest(dataDir: string, passphrase: string, url: string, opts: { summaries?: boolean } = {}): AsyncGenerator<OpenedBatch> {
  const keystore = await Keystore.open(dataDirLayout(dataDir).keys, passphrase);
  const gatewayKey = await keystore.getSecret('eth-gateway');
  if (!gatewayKey) throw new Error(`the gateway of ${dataDir} has no chain account yet, so it has never uploaded anything`);
  const client = new IngestClient(url, toWallet(gatewayKey));
  for (const patientId of await keystore.patients()) {
    const patientKey = await keystore.getSecret(`eth-patient-${patientId}`);
    if (!patientKey) continue; // never registered on chain, so never uploaded
    const who = `patient=${encodeURIComponent(patientId)}&patientAccount=${toWallet(patientKey).address}`;
    let after: string | null = null;
    do {
      const page = await client.request('GET', `/v1/batches?${who}${after ? `&after=${after}` : ''}`);
      if (page.status !== 200) throw new Error(`ingest refused to list ${patientId}'s batches: ${page.status} ${page.json?.error ?? ''} ${page.json?.message ?? ''}`.trim());
      const { ids, next } = page.json as unknown as { ids: string[]; next: string | null };
      for (const id of ids) {
        const got = await client.request('GET', `/v1/batches/${id}?${who}`);
        if (got.status !== 200) {
          yield { id, pack: 'ingest', ok: false, reason: `ingest answered ${got.status} ${got.json?.error ?? ''}`.trim() };
          continue;
        }
        if (batchId(got.body) !== id) {
          yield { id, pack: 'ingest', ok: false, reason: 'the bytes ingest returned do not hash to the batch id: the cloud copy was altered' };
          continue;
        }
        const opened = await openOne(keystore, 'ingest', id, got.body);
        // A summary that does not open is still reported: skipped are only the ones that do.
        if (!opts.summaries && opened.ok && opened.header.kind !== 'readings') continue;
        yield opened;
      }
      after = next;
    } while (after);
  }
}
