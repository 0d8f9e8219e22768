/**
 * The gateway's side of the ingest API: every request signed with the gateway's chain account
 * (protocol/src/request-signature.ts). Used by the upload spool, `open --from-ingest` and tests.
 * Also the subpath `@vitalgate/ingest/client`, so a gateway loads this and not the whole service
 * (its web server, S3 client and catalogs).
 */
import { randomBytes } from 'node:crypto';
import { getBytes, type Signer } from 'ethers';
import { contentDigest, redactUrl, signatureBase, signatureHeaders, type SignatureParams } from '@vitalgate/protocol';

export interface IngestResponse { status: number; body: Uint8Array; json?: { error?: string; message?: string; [k: string]: unknown } }

/** A request that gets no answer in this time fails, so a stalled ingest cannot hold a gateway's shutdown. */
export const INGEST_REQUEST_TIMEOUT_MS = 30_000;

export class IngestClient {
  constructor(readonly baseUrl: string, private readonly signer: Signer, private readonly now: () => number = Date.now, private readonly timeoutMs = INGEST_REQUEST_TIMEOUT_MS) {}

  /** The signature headers for a request; exposed so tests can tamper with them. */
  async sign(method: string, pathAndQuery: string, body: Uint8Array, over: Partial<SignatureParams> = {}): Promise<Record<string, string>> {
    const q = pathAndQuery.indexOf('?');
    const digest = contentDigest(body);
    const params: SignatureParams = {
      created: Math.floor(this.now() / 1000),
      nonce: randomBytes(18).toString('base64url'),
      keyid: await this.signer.getAddress(),
      ...over,
    };
    const base = signatureBase({ method, path: q < 0 ? pathAndQuery : pathAndQuery.slice(0, q), query: q < 0 ? '?' : pathAndQuery.slice(q), contentDigest: digest }, params);
    const sig = getBytes(await this.signer.signMessage(base));
    return { 'content-digest': digest, ...signatureHeaders(params, sig) };
  }

  async request(method: string, pathAndQuery: string, body: Uint8Array = new Uint8Array(0), headers?: Record<string, string>): Promise<IngestResponse> {
    const h = headers ?? (await this.sign(method, pathAndQuery, body));
    let res: Response;
    try {
      res = await fetch(new URL(pathAndQuery, this.baseUrl), {
        method,
        signal: AbortSignal.timeout(this.timeoutMs),
        headers: { ...h, ...(body.length > 0 && { 'content-type': 'application/octet-stream' }) },
        ...(body.length > 0 && { body }),
      });
    } catch (e) {
      const cause = (e as Error & { cause?: { code?: string; message?: string } }).cause;
      throw new Error(`ingest at ${redactUrl(this.baseUrl)} is not reachable: ${cause?.code ?? cause?.message ?? (e as Error).message}`);
    }
    const bytes = new Uint8Array(await res.arrayBuffer());
    let json: IngestResponse['json'];
    if ((res.headers.get('content-type') ?? '').includes('json')) {
      try { json = JSON.parse(Buffer.from(bytes).toString('utf8')) as IngestResponse['json']; } catch { /* not JSON after all */ }
    }
    return { status: res.status, body: bytes, ...(json && { json }) };
  }
}

/** The query of a batch upload: what the sealed header must match. */
export function batchQuery(h: { patientId: string; stream: string; deviceId: string; epoch: number; seq: number; firstTs: number; lastTs: number; count: number }, patientAccount: string): string {
  const q = new URLSearchParams({
    patient: h.patientId, patientAccount, stream: h.stream, device: h.deviceId,
    epoch: String(h.epoch), seq: String(h.seq), firstTs: String(h.firstTs), lastTs: String(h.lastTs), count: String(h.count),
  });
  return `?${q.toString()}`;
}
