/**
 * Sends sealed batches, epoch records and anchor records to ingest as the patients' gateway: signed
 * with the gateway's chain account, naming each patient by their chain account so ingest can check
 * the Registry binds them to us.
 */
import { IngestClient, batchQuery } from '@vitalgate/ingest/client';
import { encodeBundle, encodeCloudRecord, type EpochRecord } from '@vitalgate/protocol';
import type { MinedAnchor } from '../anchoring/anchorer.js';
import type { BatchRecord } from '../store/batch-index.js';
import type { ChainLink } from '../anchoring/chain-link.js';
import type { EnvelopeRecord } from '../envelopes/envelope-issuer.js';
import type { AnchorBatchRef, CloudSender, SendResult } from './uploader.js';

export class IngestSender implements CloudSender {
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

  async putBatches(list: ReadonlyArray<{ rec: BatchRecord; bytes: Uint8Array }>): Promise<SendResult[]> {
    const items = [];
    try {
      for (const { rec, bytes } of list) {
        items.push({
          item: { id: rec.id, patientAccount: await this.accountOf(rec.patientId), patient: rec.patientId, stream: rec.stream, device: rec.deviceId, epoch: rec.epoch, seq: rec.seq, firstTs: rec.firstTs, lastTs: rec.lastTs, count: rec.count },
          bytes,
        });
      }
    } catch (e) {
      const error = `patient-not-bound: ${(e as Error).message.split('\n')[0]!.slice(0, 120)}`;
      return list.map(() => ({ status: 403, error }));
    }
    const r = await this.client.request('POST', '/v1/batches', encodeBundle(items));
    const results = (r.json as { results?: Array<{ status: number; error?: string }> } | undefined)?.results;
    if (r.status !== 200 || !Array.isArray(results) || results.length !== list.length) {
      return list.map(() => ({ status: r.status === 200 ? 502 : r.status, ...(r.json?.error && { error: r.json.error }) }));
    }
    return results.map((x) => ({ status: x.status, ...(x.error && { error: x.error }) }));
  }

  private async send(method: string, path: string, body: Uint8Array): Promise<SendResult> {
    const r = await this.client.request(method, path, body);
    return { status: r.status, ...(r.json?.error && { error: r.json.error }) };
  }

  putEpoch(rec: EpochRecord): Promise<SendResult> {
    const body = encodeCloudRecord({ v: 1, gateway: this.chain.address, epoch: rec.epoch, startedAt: rec.startedAt, reason: rec.reason });
    return this.send('PUT', `/v1/epochs/${rec.epoch}`, body);
  }

  async putAnchor(a: MinedAnchor, batches: AnchorBatchRef[]): Promise<SendResult> {
    const accounts = new Map<string, string>();
    try {
      for (const p of new Set(batches.map((b) => b.patientId))) accounts.set(p, await this.accountOf(p));
    } catch (e) {
      return { status: 403, error: `patient-not-bound: ${(e as Error).message.split('\n')[0]!.slice(0, 120)}` };
    }
    const body = encodeCloudRecord({
      v: 1, gateway: this.chain.address, root: a.root, txHash: a.txHash, blockNumber: a.blockNumber, blockTimestamp: a.blockTimestamp,
      batches: batches.map((b) => ({ id: b.id, patientAccount: accounts.get(b.patientId)!, stream: b.stream, firstTs: b.firstTs, ...(b.kind && { kind: b.kind }) })),
    });
    return this.send('PUT', `/v1/anchors/${a.root}`, body);
  }

  putEnvelope(rec: EnvelopeRecord): Promise<SendResult> {
    return this.send('PUT', `/v1/envelopes/${rec.patientAccount}/${rec.grantee}/${rec.stream}/${rec.epoch}`, Buffer.from(rec.envelope, 'hex'));
  }
}
