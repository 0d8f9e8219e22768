/**
 * A clinician's side of the care-team API, outside a browser: signs in with Sign-In with Ethereum
 * (the account key signs the EIP-4361 message; the session comes back as a bearer token), reads what
 * the chain lets it, and opens it on this machine: the key envelopes with its encryption key, the
 * batches with the epoch keys inside. Nothing decrypted is ever sent anywhere.
 *
 * Every refusal of the API is an ApiError carrying the service's code and message.
 */
import { createHash } from 'node:crypto';
import type { Signer } from 'ethers';
import { SiweMessage } from 'siwe';
import {
  openBatch, openEnvelope, parseBatch, parseDownloadBundle, redactUrl, type BundleAnchor, type BundleItem, type ParsedBatch, type ReadingBody, type StreamName,
} from '@vitalgate/protocol';
import type { CatalogEntry } from '../catalog/catalog.js';

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface PatientAccess {
  patientAccount: string;
  access: { via: string; grantee: string; streams: StreamName[]; from: number; until: number; expiresAt: number }[];
}

/** One page of GET /v1/clinician/bundle: the items, their sealed bytes (each checked against its id), and the next cursor. */
export interface BundlePage {
  items: BundleItem[];
  bodies: Uint8Array[];
  next: string | null;
}

/** GET /v1/clinician/latest, per patient: its access, its newest batches (sealed) and the envelopes that open them. */
export interface LatestPatient extends PatientAccess {
  batches: { id: string; stream: StreamName; deviceId: string; epoch: number; seq: number; firstTs: number; lastTs: number; count: number; sealed: string }[];
  envelopes: { stream: StreamName; epoch: number; envelope: string }[];
}

export interface OpenedBatch {
  id: string;
  stream: StreamName;
  deviceId: string;
  epoch: number;
  readings: ReadingBody[];
}

export class ClinicianClient {
  private token: string | undefined;
  readonly address: Promise<string>;

  constructor(readonly baseUrl: string, private readonly account: Signer, private readonly timeoutMs = 30_000) {
    this.address = account.getAddress();
  }

  private async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.baseUrl), {
        method,
        signal: AbortSignal.timeout(this.timeoutMs),
        headers: { ...(this.token && { authorization: `Bearer ${this.token}` }), ...(body !== undefined && { 'content-type': 'application/json' }) },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
    } catch (e) {
      const cause = (e as Error & { cause?: { code?: string; message?: string } }).cause;
      throw new ApiError(0, 'unreachable', `ingest at ${redactUrl(this.baseUrl)} is not reachable: ${cause?.code ?? cause?.message ?? (e as Error).message}`);
    }
    if (res.status >= 400) {
      let j: { error?: string; message?: string } = {};
      try { j = (await res.json()) as typeof j; } catch { /* not JSON */ }
      throw new ApiError(res.status, j.error ?? `http-${res.status}`, `${method} ${path.split('?')[0]}: ${res.status} ${j.error ?? ''}: ${j.message ?? res.statusText}`);
    }
    return res;
  }

  private async json<T>(path: string): Promise<T> {
    return (await (await this.call('GET', path)).json()) as T;
  }

  /** Signs in: a nonce, the EIP-4361 message for this service's origin, signed, exchanged for a session. */
  async signIn(opts: { chainId?: number; statement?: string } = {}): Promise<{ address: string; expiresAt: number }> {
    const { nonce, chainId } = await this.json<{ nonce: string; chainId?: number }>('/v1/auth/nonce');
    const url = new URL(this.baseUrl);
    const message = new SiweMessage({
      domain: url.host, address: await this.address, uri: url.origin, version: '1', chainId: opts.chainId ?? chainId ?? 1, nonce,
      statement: opts.statement ?? 'Sign in to Vitalgate to read the vital signs patients have granted me.',
      issuedAt: new Date().toISOString(),
    }).prepareMessage();
    const signature = await this.account.signMessage(message);
    const r = (await (await this.call('POST', '/v1/auth/signin', { message, signature })).json()) as { token: string; address: string; expiresAt: number };
    this.token = r.token;
    return { address: r.address, expiresAt: r.expiresAt };
  }

  async signOut(): Promise<void> {
    await this.call('POST', '/v1/auth/signout', {});
    this.token = undefined;
  }

  async patients(): Promise<PatientAccess[]> {
    return (await this.json<{ patients: PatientAccess[] }>('/v1/clinician/patients')).patients;
  }

  /** Every catalog entry of the patient (and stream) whose first reading is in [from, to), page by page. */
  async *catalog(patientAccount: string, from: number, to: number, stream?: StreamName): AsyncGenerator<CatalogEntry> {
    let after: string | null = null;
    do {
      const q = new URLSearchParams({ patientAccount, from: String(from), to: String(to), limit: '1000', ...(stream && { stream }), ...(after && { after }) });
      const page: { entries: CatalogEntry[]; next: string | null } = await this.json(`/v1/clinician/catalog/batches?${q}`);
      yield* page.entries;
      after = page.next;
    } while (after);
  }

  /** This clinician's envelopes for the patient, by "stream/epoch". */
  async envelopes(patientAccount: string, stream?: StreamName): Promise<Map<string, Uint8Array>> {
    const out = new Map<string, Uint8Array>();
    let after: string | null = null;
    do {
      const q = new URLSearchParams({ patientAccount, limit: '1000', ...(stream && { stream }), ...(after && { after }) });
      const page: { envelopes: { stream: string; epoch: number; envelope: string }[]; next: string | null } = await this.json(`/v1/clinician/envelopes?${q}`);
      for (const e of page.envelopes) out.set(`${e.stream}/${e.epoch}`, Uint8Array.from(Buffer.from(e.envelope, 'base64')));
      after = page.next;
    } while (after);
    return out;
  }

  /** One page of the bundle endpoint; every body is checked to be the batch its item names (SHA-256). */
  async bundlePage(patientAccount: string, stream: StreamName, from: number, to: number, o: { kind?: string; after?: string; limit?: number } = {}): Promise<BundlePage> {
    const q = new URLSearchParams({ patientAccount, stream, from: String(from), to: String(to), ...(o.kind && { kind: o.kind }), ...(o.after && { after: o.after }), ...(o.limit && { limit: String(o.limit) }) });
    const bytes = new Uint8Array(await (await this.call('GET', `/v1/clinician/bundle?${q}`)).arrayBuffer());
    const p = parseDownloadBundle(bytes);
    if (!p.ok) throw new ApiError(200, 'bad-bundle', `GET /v1/clinician/bundle: not a bundle: ${p.reason}`);
    p.value.items.forEach((it, i) => {
      if (createHash('sha256').update(p.value.bodies[i]!).digest('hex') !== it.id) throw new ApiError(200, 'wrong-bytes', `batch ${it.id}: the bytes served are not the batch named (SHA-256 differs)`);
    });
    return { items: p.value.items, bodies: p.value.bodies, next: p.value.next ?? null };
  }

  /** Every page of the bundle endpoint for [from, to), in order. */
  async *bundle(patientAccount: string, stream: StreamName, from: number, to: number, o: { kind?: string; limit?: number } = {}): AsyncGenerator<{ item: BundleItem; bytes: Uint8Array }> {
    let after: string | undefined;
    do {
      const page = await this.bundlePage(patientAccount, stream, from, to, { ...o, ...(after && { after }) });
      for (const [i, item] of page.items.entries()) yield { item, bytes: page.bodies[i]! };
      after = page.next ?? undefined;
    } while (after);
  }

  /** Where each of `ids` (batches of one patient, up to MAX_PROOF_IDS) is anchored: null for one not anchored yet. */
  async proofs(patientAccount: string, ids: readonly string[]): Promise<Record<string, BundleAnchor | null>> {
    return (await this.json<{ anchors: Record<string, BundleAnchor | null> }>(`/v1/clinician/proofs/${patientAccount}?ids=${ids.join(',')}`)).anchors;
  }

  /** The newest batch of each of `streams` for every patient this clinician may see now, with the envelopes to open them. */
  async latest(streams: readonly StreamName[], o: { limit?: number } = {}): Promise<LatestPatient[]> {
    const out: LatestPatient[] = [];
    let after: string | null = null;
    do {
      const q = new URLSearchParams({ streams: streams.join(','), ...(o.limit && { limit: String(o.limit) }), ...(after && { after }) });
      const page: { patients: LatestPatient[]; next: string | null } = await this.json(`/v1/clinician/latest?${q}`);
      out.push(...page.patients);
      after = page.next;
    } while (after);
    return out;
  }

  /** The sealed batch, checked to be the one asked for (its id is its SHA-256). */
  async batch(patientAccount: string, id: string): Promise<Uint8Array> {
    const bytes = new Uint8Array(await (await this.call('GET', `/v1/clinician/batches/${patientAccount}/${id}`)).arrayBuffer());
    if (createHash('sha256').update(bytes).digest('hex') !== id) throw new ApiError(200, 'wrong-bytes', `batch ${id}: the bytes served are not the batch asked for (SHA-256 differs)`);
    return bytes;
  }
}

/**
 * Opens a sealed batch with the envelope for its (patient, stream, epoch); the patient id and epoch
 * come from the batch's authenticated header. Never throws: a missing envelope, a wrong key and a
 * tampered byte each come back as a reason.
 */
export function openWithEnvelopes(encryptionKey: Uint8Array, envelopes: ReadonlyMap<string, Uint8Array>, id: string, bytes: Uint8Array): { ok: true; value: OpenedBatch } | { ok: false; reason: string } {
  const p = parseBatch(bytes);
  if (!p.ok) return { ok: false, reason: `not a sealed batch: ${p.reason}` };
  const h = (p.value as ParsedBatch).header;
  const env = envelopes.get(`${h.stream}/${h.epoch}`);
  if (!env) return { ok: false, reason: `no envelope for ${h.stream} epoch ${h.epoch}: the chain did not grant this clinician that epoch` };
  const dk = openEnvelope(encryptionKey, env, { patientId: h.patientId, stream: h.stream, epoch: h.epoch });
  if (!dk.ok) return { ok: false, reason: `the envelope for ${h.stream} epoch ${h.epoch} does not open: ${dk.reason}` };
  const r = openBatch(dk.value, p.value);
  if (!r.ok) return { ok: false, reason: r.reason };
  return { ok: true, value: { id, stream: h.stream, deviceId: h.deviceId, epoch: h.epoch, readings: r.value } };
}
