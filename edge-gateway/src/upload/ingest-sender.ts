/**
 * Sends one sealed batch to ingest as the patient's gateway: signed with the gateway's chain
 * account, naming the patient's chain account so ingest can check the Registry binds it to us.
 */
import { IngestClient, batchQuery } from '@vitalgate/ingest';
import type { BatchRecord } from '../batch-index.js';
import type { ChainLink } from '../chain-link.js';
import type { BatchSender } from './uploader.js';

export class IngestSender implements BatchSender {
  private readonly client: IngestClient;
  private readonly accounts = new Map<string, string>();

  constructor(url: string, private readonly chain: ChainLink) {
    this.client = new IngestClient(url, chain.wallet);
  }

  private async accountOf(patientId: string): Promise<string> {
    let a = this.accounts.get(patientId);
    if (!a) {
      // Ingest checks the patient's binding on chain: make sure it exists (a no-op once done).
      await this.chain.ensurePatient(patientId);
      a = (await this.chain.patientWallet(patientId)).address;
      this.accounts.set(patientId, a);
    }
    return a;
  }

  async putBatch(rec: BatchRecord, bytes: Uint8Array): Promise<{ status: number; error?: string }> {
    let account: string;
    try {
      account = await this.accountOf(rec.patientId);
    } catch (e) {
      // Not bound on chain (production registers patients through an admin): ingest would refuse.
      return { status: 403, error: `patient-not-bound: ${(e as Error).message.split('\n')[0]!.slice(0, 120)}` };
    }
    const path = `/v1/batches/${rec.id}${batchQuery({ ...rec, deviceId: rec.deviceId }, account)}`;
    const r = await this.client.request('PUT', path, bytes);
    return { status: r.status, ...(r.json?.error && { error: r.json.error }) };
  }
}
