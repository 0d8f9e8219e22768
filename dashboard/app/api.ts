/**
 * The clinician API as the browser uses it: same origin, a bearer token from Sign-In with Ethereum
 * (never a cookie read by script: the HttpOnly cookie the service also sets is not needed here), and
 * only ciphertext in and out. Each refusal is an ApiError with the service's code and message.
 */
import { MAX_BUNDLE_BATCHES, checksumAddress, parseDownloadBundle, type BundleAnchor, type BundleItem } from '@vitalgate/protocol';

export type { BundleAnchor, BundleItem };

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

export interface AccessWindow { via: 'grant' | 'care-team' | 'break-glass'; grantee: string; streams: string[]; from: number; until: number; expiresAt: number }
export interface AccessEntry { ts: number; requestId: string; patient?: string; stream?: string; from?: number; to?: number; route: string; decision: 'allow' | 'deny'; reason: string; breakGlass: boolean }
export interface PatientAccess { patientAccount: string; access: AccessWindow[] }
export interface CatalogEntry { id: string; patientId: string; stream: string; deviceId: string; epoch: number; seq: number; firstTs: number; lastTs: number; count: number; bytes: number; anchor?: { root: string; txHash: string; block: number } }

/** GET /v1/clinician/latest, per patient: its access, its newest batches (sealed, base64) and the envelopes that open them. */
export interface LatestBatch { id: string; stream: string; deviceId: string; epoch: number; seq: number; firstTs: number; lastTs: number; count: number; sealed: string }
export interface LatestPatient extends PatientAccess { batches: LatestBatch[]; envelopes: { stream: string; epoch: number; envelope: string }[] }
/** One batch of a bundle: its manifest item (anchor and proof included once anchored) and its sealed bytes, ready to hand to the worker. */
export interface BundleBatch { item: BundleItem; bytes: ArrayBuffer }
export type BatchKind = 'readings' | 'summary-1m' | 'summary-1h';

/** Most slices of time a bundle's range is asked for in at once, after its first page (see Api.bundle). */
export const BUNDLE_SLICES = 4;

export const fromBase64 = (s: string): Uint8Array => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

export class Api {
  private token: string | undefined;
  address: string | undefined;
  /** Bytes fetched from the service, for the figures the benchmark reports. */
  bytesIn = 0;

  private async call(method: 'GET' | 'POST', path: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
    const res = await fetch(path, {
      method,
      credentials: 'omit',
      ...(signal && { signal }),
      headers: { ...(this.token && { authorization: `Bearer ${this.token}` }), ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    if (res.status >= 400) {
      let j: { error?: string; message?: string } = {};
      try { j = (await res.json()) as typeof j; } catch { /* not JSON */ }
      throw new ApiError(res.status, j.error ?? `http-${res.status}`, j.message ?? res.statusText);
    }
    return res;
  }

  private async json<T>(path: string): Promise<T> {
    const text = await (await this.call('GET', path)).text();
    this.bytesIn += text.length;
    return JSON.parse(text) as T;
  }

  private nonce: Promise<{ nonce: string; chainId: number }> | undefined;

  /** Asks for the sign-in nonce now, for a sign-in about to happen (it overlaps the key's parsing). */
  prefetchNonce(): void {
    this.nonce ??= this.json<{ nonce: string; chainId: number }>('/v1/auth/nonce');
    this.nonce.catch(() => undefined);
  }

  /** Signs in with the clinician's account key: the key signs here, only the signature is sent. */
  async signIn(signer: { address: string; signMessage(m: string): Promise<string> }): Promise<void> {
    const prefetched = this.nonce;
    this.nonce = undefined;
    const { nonce, chainId } = await (prefetched ?? this.json<{ nonce: string; chainId: number }>('/v1/auth/nonce'));
    const message = siweMessage({
      domain: location.host, address: checksumAddress(signer.address), uri: location.origin, chainId, nonce,
      statement: 'Sign in to the Vitalgate care-team dashboard.', issuedAt: new Date().toISOString(),
    });
    const signature = await signer.signMessage(message);
    const r = (await (await this.call('POST', '/v1/auth/signin', { message, signature })).json()) as { token: string; address: string };
    this.token = r.token;
    this.address = r.address;
  }

  async signOut(): Promise<void> {
    await this.call('POST', '/v1/auth/signout', {}).catch(() => undefined);
    this.token = undefined;
  }

  patients(): Promise<PatientAccess[]> {
    return this.json<{ patients: PatientAccess[] }>('/v1/clinician/patients').then((r) => r.patients);
  }

  async catalog(patientAccount: string, from: number, to: number, stream?: string): Promise<CatalogEntry[]> {
    const out: CatalogEntry[] = [];
    let after: string | null = null;
    do {
      const q = new URLSearchParams({ patientAccount, from: String(from), to: String(to), limit: '1000', ...(stream && { stream }), ...(after && { after }) });
      const page: { entries: CatalogEntry[]; next: string | null } = await this.json(`/v1/clinician/catalog/batches?${q}`);
      out.push(...page.entries);
      after = page.next;
    } while (after);
    return out;
  }

  async envelopes(patientAccount: string): Promise<Map<string, Uint8Array>> {
    const out = new Map<string, Uint8Array>();
    let after: string | null = null;
    do {
      const q = new URLSearchParams({ patientAccount, limit: '1000', ...(after && { after }) });
      const page: { envelopes: { stream: string; epoch: number; envelope: string }[]; next: string | null } = await this.json(`/v1/clinician/envelopes?${q}`);
      for (const e of page.envelopes) out.set(`${e.stream}/${e.epoch}`, Uint8Array.from(atob(e.envelope), (c) => c.charCodeAt(0)));
      after = page.next;
    } while (after);
    return out;
  }

  /** Where each of `ids` (one patient's batches, up to MAX_PROOF_IDS) is anchored; null for one not anchored yet. */
  async proofs(patientAccount: string, ids: readonly string[]): Promise<Record<string, BundleAnchor | null>> {
    return (await this.json<{ anchors: Record<string, BundleAnchor | null> }>(`/v1/clinician/proofs/${patientAccount}?ids=${ids.join(',')}`)).anchors;
  }

  /**
   * For every patient this clinician may see now: its access, the newest batch of each of `streams`
   * it granted (from the last 10 minutes) and the key envelopes that open them. One request, however
   * many patients.
   */
  /** Every patient's, page by page (a page holds up to 200 patients). */
  async latest(streams: readonly string[]): Promise<LatestPatient[]> {
    const out: LatestPatient[] = [];
    let after: string | null = null;
    do {
      const page: { patients: LatestPatient[]; next: string | null } = await this.json(`/v1/clinician/latest?streams=${streams.join(',')}${after ? `&after=${after}` : ''}`);
      out.push(...page.patients);
      after = page.next;
    } while (after);
    return out;
  }

  /**
   * Every batch of one stream whose first reading is in [from, to) that this clinician may see, page
   * by page (up to 256 batches a request), each with its anchor and Merkle proof once anchored: no
   * catalog page, batch or proof request per batch. A bundle that does not parse is an ApiError.
   * The ids are not checked here: the worker checks each batch hashes to its id before opening it.
   * `onPage`, when given, gets each page's batches as soon as that page has arrived.
   *
   * When the first page is not the last, the rest of the range is asked for in up to
   * BUNDLE_SLICES slices of time side by side (each paged in turn), as many as the first page's
   * density says there are pages left: an hour of ECG is 8 pages, 8 round trips one after the other
   * when asked as one range. Batches of the first page's last instant are not taken twice.
   */
  async bundle(patientAccount: string, stream: string, from: number, to: number, kind: BatchKind = 'readings', signal?: AbortSignal, onPage?: (items: BundleBatch[]) => void): Promise<BundleBatch[]> {
    const page = async (a: number, b: number, after: string | null): Promise<{ items: BundleBatch[]; next: string | null }> => {
      const q = new URLSearchParams({ patientAccount, stream, from: String(a), to: String(b), ...(kind !== 'readings' && { kind }), ...(after && { after }) });
      const res = await this.call('GET', `/v1/clinician/bundle?${q}`, undefined, signal);
      const bytes = new Uint8Array(await res.arrayBuffer());
      this.bytesIn += bytes.byteLength;
      const p = parseDownloadBundle(bytes);
      if (!p.ok) throw new ApiError(res.status, 'bad-bundle', `the bundle does not parse: ${p.reason}`);
      // Each batch in its own buffer, so that it can be transferred to the worker alone.
      const items = p.value.items.map((item, i) => { const x = p.value.bodies[i]!; return { item, bytes: x.buffer.slice(x.byteOffset, x.byteOffset + x.byteLength) as ArrayBuffer }; });
      return { items, next: p.value.next ?? null };
    };
    /** [a, b) to its last page, from `after`; without `skip`'s ids. */
    const rest = async (a: number, b: number, after: string | null, skip?: ReadonlySet<string>): Promise<BundleBatch[]> => {
      const out: BundleBatch[] = [];
      do {
        const p = await page(a, b, after);
        const items = skip ? p.items.filter((x) => !skip.has(x.item.id)) : p.items;
        out.push(...items);
        onPage?.(items);
        after = p.next;
      } while (after);
      return out;
    };
    const first = await page(from, to, null);
    onPage?.(first.items);
    if (!first.next || !first.items.length) return first.items;
    let t = from;
    for (const x of first.items) t = Math.max(t, x.item.firstTs);
    const pagesLeft = Math.ceil(((to - t) / Math.max(1, t - from)) * (first.items.length / MAX_BUNDLE_BATCHES));
    const n = Math.max(1, Math.min(BUNDLE_SLICES, pagesLeft));
    const edges = Array.from({ length: n + 1 }, (_, i) => (i === n ? to : t + Math.floor(((to - t) * i) / n)));
    const seen = new Set(first.items.filter((x) => x.item.firstTs === t).map((x) => x.item.id));
    const slices = await Promise.all(edges.slice(0, n).map((a, i) => rest(a, edges[i + 1]!, null, i === 0 ? seen : undefined)));
    return first.items.concat(...slices);
  }

  /** This clinician's own access history, page by page until `max` entries. */
  async accessLog(max = 2000): Promise<AccessEntry[]> {
    const out: AccessEntry[] = [];
    let after: string | null = null;
    do {
      const q = new URLSearchParams({ limit: '500', ...(after && { after }) });
      const page: { entries: AccessEntry[]; next: string | null } = await this.json(`/v1/clinician/access-log?${q}`);
      out.push(...page.entries);
      after = page.next;
    } while (after && out.length < max);
    return out;
  }

  async config<T>(): Promise<T> {
    return this.json<T>('/config.json');
  }

  async batch(patientAccount: string, id: string): Promise<ArrayBuffer> {
    const b = await (await this.call('GET', `/v1/clinician/batches/${patientAccount}/${id}`)).arrayBuffer();
    this.bytesIn += b.byteLength;
    return b;
  }

  /**
   * The live feed (server-sent events) read through fetch, so that the bearer token goes in a header
   * (EventSource cannot send one, and a token in the URL would end up in logs).
   */
  async feed(patientAccount: string, onBatch: (e: CatalogEntry) => void, onEnd: (why: string) => void, signal: AbortSignal): Promise<void> {
    let res: Response;
    try {
      res = await fetch(`/v1/clinician/feed?patientAccount=${patientAccount}`, { headers: { authorization: `Bearer ${this.token}` }, signal, credentials: 'omit' });
    } catch (e) {
      if (!signal.aborted) onEnd(`the live feed could not connect: ${(e as Error).message}`);
      return;
    }
    if (!res.ok || !res.body) return onEnd(res.status === 403 ? 'access to this patient ended' : `the live feed was refused (${res.status})`);
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return onEnd('the live feed ended');
        buf += value;
        let cut: number;
        while ((cut = buf.indexOf('\n\n')) >= 0) {
          const chunk = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          const event = /^event: (.*)$/m.exec(chunk)?.[1];
          const data = /^data: (.*)$/m.exec(chunk)?.[1];
          if (event === 'batch' && data) onBatch(JSON.parse(data) as CatalogEntry);
          else if (event === 'revoked') onEnd('access to this patient ended');
        }
      }
    } catch (e) {
      if (!signal.aborted) onEnd(`the live feed broke: ${(e as Error).message}`);
    }
  }
}

/**
 * The EIP-4361 (Sign-In with Ethereum) message, line for line as the siwe package writes it
 * (SiweMessage.toMessage, version 1); ingest parses and checks it with that package. Written here
 * rather than with siwe in the page: siwe's constructor runs an ABNF parser over its own output and
 * pulls in all of ethers, half the page's script and a tenth of a second before the first request.
 */
export function siweMessage(m: { domain: string; address: string; statement: string; uri: string; chainId: number; nonce: string; issuedAt: string }): string {
  return [
    `${m.domain} wants you to sign in with your Ethereum account:`, m.address, '', m.statement, '',
    `URI: ${m.uri}`, 'Version: 1', `Chain ID: ${m.chainId}`, `Nonce: ${m.nonce}`, `Issued At: ${m.issuedAt}`,
  ].join('\n');
}
