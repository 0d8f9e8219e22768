/**
 * The clinician API: what a signed-in clinician may see of the patients who granted it, decided
 * against the chain on every request (clinician-access.ts) and written to the access log before
 * the answer goes out. A refusal is a 403 {"error", "message"} naming why, counted toward the
 * clinician's ban (denial-reporter.ts); a banned clinician is refused everything.
 *
 * GET /v1/clinician/patients
 *   {"patients": [{"patientAccount", "access": [{"via", "grantee", "streams", "from", "until", "expiresAt"}]}]}
 * GET /v1/clinician/catalog/batches?patientAccount=&from=&to=[&stream=][&after=][&limit=]
 *   As the gateway's catalog query, keeping only batches of streams and times the clinician holds.
 * GET /v1/clinician/batches/{patientAccount}/{id}
 *   The sealed batch (ciphertext) when its stream and time range are granted.
 * GET /v1/clinician/proofs/{patientAccount}/{id}
 *   Where the batch is anchored, for the caller to check on chain itself (DataAnchor.verifyBatch):
 *   {"anchor": {"gateway", "root", "tx", "block", "proof"}} or {"anchor": null} (not anchored yet).
 *   Decided like the batch itself.
 * GET /v1/clinician/proofs/{patientAccount}?ids=ID,ID,… (up to MAX_PROOF_IDS)
 *   The same for several batches of one patient at once (a live view's pending ones):
 *   {"anchors": {ID: anchor | null}}. One access decision for the request, over the streams and the
 *   time the batches span; refused (403) as a whole when any of them is outside the grant, 404 when
 *   one is not there.
 * GET /v1/clinician/bundle?patientAccount=&stream=&from=&to=[&kind=][&after=][&limit=]
 *   The sealed batches of one stream whose first reading is in [from, to), as the catalog lists them
 *   (one page: up to MAX_BUNDLE_BATCHES), keeping those the clinician's windows allow, in one batch
 *   bundle (protocol/src/batch-bundle.ts, download mode): each item with its anchor and Merkle proof
 *   once anchored, and the manifest's `next` the `after` of the following page (null on the last).
 *   `kind` is readings (default), summary-1m or summary-1h. One access decision for the request.
 * GET /v1/clinician/latest?streams=hr,spo2,…
 *   For every patient the clinician may see now: its access (as /patients), the newest batch of each
 *   asked and granted stream whose first reading is in the last 10 minutes (base64; the newest this
 *   clinician has the envelope for, when a new epoch's has not arrived yet), and the envelopes:
 *   {"patients": [{"patientAccount", "access", "batches": [{"id", "stream", "deviceId", "epoch",
 *   "seq", "firstTs", "lastTs", "count", "sealed"}], "envelopes": [{"stream", "epoch", "envelope"}]}],
 *   "from", "to", "next"}. One access-log entry per patient listed. Paged by patient account:
 *   `limit` patients (default and most LATEST_PAGE_PATIENTS), `after` the `next` of the page before
 *   (null on the last).
 * GET /v1/clinician/envelopes?patientAccount=[&stream=][&after=KEY][&limit=]
 *   This clinician's key envelopes for the patient: {"envelopes": [{"stream", "epoch", "envelope" (base64)}], "next"}.
 * GET /v1/clinician/access-log[?after=KEY][&limit=N]
 *   The signed-in clinician's own decisions, oldest first: {"entries": [entry], "next": KEY | null}.
 * GET /v1/clinician/feed?patientAccount=
 *   Server-sent events: `batch` with each new catalog entry the clinician may read; `revoked` and
 *   the end of the stream once it may no longer.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { getAddress, isAddress } from 'ethers';
import { MAX_BUNDLE_BATCHES, MAX_PROOF_IDS, STREAMS, encodeDownloadBundle, isStreamName, parseBatch, streamById, type BundleAnchor, type BundleItem, type StreamName } from '@vitalgate/protocol';
import type { Catalog, CatalogEntry } from '../catalog/catalog.js';
import type { CatalogEvents } from '../catalog/catalog-events.js';
import { backing, IngestError, refuse } from '../errors.js';
import { batchKey, type ObjectStore } from '../storage/object-store.js';
import { envelopeKey } from './envelopes.js';
import { catalogPageQuery, requireInt, type Query } from './query.js';
import type { AccessLog, AccessLogEntry } from '../clinician/access-log.js';
import { allowingWindow, servingWindow, type AccessWindow, type ClinicianAccess } from '../clinician/clinician-access.js';
import { streamIdsOf } from '@vitalgate/contracts';
import { AnchorTrees } from '../clinician/anchor-trees.js';

export interface ClinicianRouteOptions {
  store: ObjectStore;
  catalog?: Catalog;
  access: ClinicianAccess;
  accessLog: AccessLog;
  /** Sets the signed-in clinician on the request, or refuses (401). */
  requireClinician: preHandlerAsyncHookHandler;
  clinicianOf(req: FastifyRequest): string;
  /** Called with each denied clinician (the ban counter). */
  onDenied?: (clinician: string) => void;
  /** How often the live feed looks for new batches (default 1 s). */
  feedIntervalMs?: number;
  /** Batches this instance catalogs: the live feed looks at once instead of at its next poll. */
  catalogEvents?: CatalogEvents;
  /** The anchor records' Merkle trees, kept for proofs (default: a bounded cache of its own). */
  anchorTrees?: AnchorTrees;
}

/** /latest looks for each stream's newest batch among those that began in the last LATEST_LOOKBACK_MS. */
export const LATEST_LOOKBACK_MS = 10 * 60_000;
/** The newest batches of a stream /latest looks at first (a few epochs' worth at any stream's rate). */
const LATEST_CANDIDATES = 4;
/** Epochs /latest looks back over for a stream's newest batch it has this clinician's envelope for. */
const LATEST_EPOCHS_TRIED = 3;
/** Device clocks run ahead of ingest's by up to this much. */
const CLOCK_AHEAD_MS = 60_000;
/** Patients /latest works on at once in the catalog and storage. */
const LATEST_CONCURRENCY = 16;
/** Most patients one /latest answer holds (a few KiB each: a sealed batch per stream, base64). */
export const LATEST_PAGE_PATIENTS = 200;

const ID_RE = /^[0-9a-f]{64}$/;
/** The live feed looks this far back for batches that arrived late (their first reading is older). */
const FEED_LOOKBACK_MS = 2 * 60_000;

interface Decision { patient?: string; stream?: string; from?: number; to?: number }

/**
 * `f` over `xs` with at most `n` at a time, results in order. Once one call fails, or `stop` is
 * aborted, no further call starts; the first failure is thrown once those running have settled.
 */
async function mapLimit<T, R>(xs: readonly T[], n: number, f: (x: T, i: number) => Promise<R>, stop?: AbortSignal): Promise<R[]> {
  const out = new Array<R>(xs.length);
  let next = 0;
  const workers = await Promise.allSettled(Array.from({ length: Math.min(n, xs.length) }, async () => {
    while (next < xs.length) {
      if (stop?.aborted) throw stop.reason;
      const i = next++;
      try {
        out[i] = await f(xs[i]!, i);
      } catch (e) {
        next = xs.length;
        throw e;
      }
    }
  }));
  const failed = workers.find((w) => w.status === 'rejected');
  if (failed) throw failed.reason;
  return out;
}

function streamsParam(v: string | undefined): StreamName[] {
  const names = v === undefined ? [] : v.split(',');
  if (names.length === 0 || names.length > 16 || !names.every((n) => isStreamName(n))) {
    throw refuse(400, 'bad-metadata', 'query parameter streams must list stream names, comma-separated (e.g. hr,spo2,temp,bp)');
  }
  return [...new Set(names as StreamName[])];
}

const accessOf = (windows: readonly AccessWindow[]) =>
  windows.map((w) => ({ via: w.via, grantee: w.grantee, streams: streamIdsOf(w.streams).map((id) => streamById(id)?.name), from: w.fromMs, until: w.untilMs, expiresAt: w.expiresAt }));

export async function clinicianRoutes(app: FastifyInstance, o: ClinicianRouteOptions): Promise<void> {
  const trees = o.anchorTrees ?? new AnchorTrees(o.store);

  /** The access-log entry of one decision. */
  function entryOf(req: FastifyRequest, d: Decision, verdict: { window: AccessWindow } | { deny: IngestError }, requestId = randomUUID()): AccessLogEntry {
    return {
      v: 1, ts: Date.now(), requestId, clinician: o.clinicianOf(req), route: `${req.method} ${req.routeOptions.url ?? ''}`,
      ...(d.patient && { patient: d.patient }), ...(d.stream && { stream: d.stream }),
      ...(d.from !== undefined && { from: d.from }), ...(d.to !== undefined && { to: d.to }),
      decision: 'window' in verdict ? 'allow' : 'deny',
      reason: 'window' in verdict ? verdict.window.via : verdict.deny.code,
      breakGlass: 'window' in verdict && verdict.window.via === 'break-glass',
    };
  }

  /** Logs the decision durably, then returns (allow) or throws the refusal (deny). */
  async function decide(req: FastifyRequest, reply: FastifyReply, d: Decision, verdict: { window: AccessWindow } | { deny: IngestError }): Promise<AccessWindow> {
    const requestId = randomUUID();
    void reply.header('x-request-id', requestId);
    const clinician = o.clinicianOf(req);
    const entry = entryOf(req, d, verdict, requestId);
    // An access that cannot be logged does not happen.
    await backing('storage', () => o.accessLog.append(entry));
    if ('deny' in verdict) {
      o.onDenied?.(clinician);
      req.log.warn({ clinician, patient: d.patient, stream: d.stream, error: verdict.deny.code, requestId }, 'clinician request denied');
      throw verdict.deny;
    }
    if (entry.breakGlass) req.log.warn({ clinician, patient: d.patient, stream: d.stream, requestId }, 'access under BREAK-GLASS');
    return verdict.window;
  }

  /** The clinician's windows on the patient; banned, none and chain trouble decided here. */
  async function windowsOf(req: FastifyRequest, reply: FastifyReply, patient: string, d: Decision): Promise<AccessWindow[]> {
    const clinician = o.clinicianOf(req);
    const [banned, windows] = await backing('chain', () => Promise.all([o.access.isBanned(clinician), o.access.windows(clinician, patient)]));
    if (banned) await decide(req, reply, d, { deny: refuse(403, 'banned', `${clinician} is banned by the Registry: every request is refused`) });
    if (windows.length === 0) await decide(req, reply, d, { deny: refuse(403, 'no-access', `no grant, care team or break-glass gives ${clinician} access to patient ${patient} now`) });
    return windows;
  }

  function patientParam(v: string | undefined, name = 'patientAccount'): string {
    if (v === undefined || !isAddress(v)) throw refuse(400, 'bad-metadata', `${name} must be the patient's 0x account`);
    return getAddress(v);
  }

  const pre = { preHandler: o.requireClinician };

  app.get('/v1/clinician/patients', pre, async (req) => {
    const clinician = o.clinicianOf(req);
    if (await backing('chain', () => o.access.isBanned(clinician))) throw refuse(403, 'banned', `${clinician} is banned by the Registry: every request is refused`);
    const all = await backing('chain', () => o.access.patientsOf(clinician));
    const windows = await backing('chain', () => o.access.windowsOfPatients(clinician, all));
    return { patients: all.flatMap((p, i) => (windows[i]!.length ? [{ patientAccount: p, access: accessOf(windows[i]!) }] : [])) };
  });

  app.get<{ Querystring: Query }>('/v1/clinician/catalog/batches', pre, async (req, reply) => {
    const catalog = o.catalog;
    if (!catalog) throw refuse(404, 'no-catalog', 'this ingest serves no catalog');
    const patient = patientParam(req.query.patientAccount);
    const { from, to, stream, kind, limit, after } = catalogPageQuery(req.query);
    const d = { patient, ...(stream && { stream }), from, to };
    const windows = await windowsOf(req, reply, patient, d);
    const w = stream ? allowingWindow(windows, stream, from, to) : windows.find((x) => x.via === 'break-glass' || (x.fromMs < to && from <= x.untilMs));
    await decide(req, reply, d, w ? { window: w } : { deny: refuse(403, 'no-access', `no window gives access to ${stream ?? 'any stream'} of ${patient} in [${from}, ${to})`) });
    const page = await backing('catalog', () => catalog.batches({ patientId: patient, from, to, limit, ...(stream && { stream }), ...(kind && { kind }), ...(after && { after }) }));
    return { entries: page.entries.filter((e) => servingWindow(windows, e)), next: page.next };
  });

  app.get<{ Params: { patient: string; id: string } }>('/v1/clinician/batches/:patient/:id', pre, async (req, reply) => {
    const patient = patientParam(req.params.patient, 'the patient in the path');
    if (!ID_RE.test(req.params.id)) throw refuse(400, 'bad-id', 'the batch id must be 64 lowercase hex');
    const windows = await windowsOf(req, reply, patient, { patient });
    const bytes = await backing('storage', () => o.store.get(batchKey(patient, req.params.id)));
    if (!bytes) throw refuse(404, 'not-found', `no batch ${req.params.id} of ${patient}`);
    const p = parseBatch(bytes);
    if (!p.ok) throw refuse(404, 'not-found', `no batch ${req.params.id} of ${patient}`);
    const h = p.value.header;
    const d = { patient, stream: h.stream, from: h.firstTs, to: h.lastTs };
    const w = servingWindow(windows, h);
    await decide(req, reply, d, w ? { window: w } : { deny: refuse(403, 'no-access', `this batch's ${h.stream} readings at ${h.firstTs}..${h.lastTs} are outside what ${patient} granted`) });
    return reply.type('application/octet-stream').send(Buffer.from(bytes));
  });

  app.get<{ Params: { patient: string; id: string } }>('/v1/clinician/proofs/:patient/:id', pre, async (req, reply) => {
    const catalog = o.catalog;
    if (!catalog) throw refuse(404, 'no-catalog', 'this ingest serves no catalog');
    const patient = patientParam(req.params.patient, 'the patient in the path');
    const id = req.params.id;
    if (!ID_RE.test(id)) throw refuse(400, 'bad-id', 'the batch id must be 64 lowercase hex');
    const windows = await windowsOf(req, reply, patient, { patient });
    const bytes = await backing('storage', () => o.store.get(batchKey(patient, id)));
    const p = bytes && parseBatch(bytes);
    if (!p || !p.ok) throw refuse(404, 'not-found', `no batch ${id} of ${patient}`);
    const h = p.value.header;
    const w = servingWindow(windows, h);
    await decide(req, reply, { patient, stream: h.stream, from: h.firstTs, to: h.lastTs }, w ? { window: w } : { deny: refuse(403, 'no-access', `this batch's ${h.stream} readings at ${h.firstTs}..${h.lastTs} are outside what ${patient} granted`) });
    const page = await backing('catalog', () => catalog.batches({ patientId: patient, from: h.firstTs, to: h.firstTs + 1, stream: h.stream, limit: 1000 }));
    const anchor = page.entries.find((e) => e.id === id)?.anchor;
    if (!anchor) return { anchor: null };
    const proof = await backing('storage', () => trees.proof(anchor.gateway, anchor.root, id));
    if (!proof) return { anchor: null };
    return { anchor: { gateway: anchor.gateway, root: anchor.root, tx: anchor.tx, block: anchor.block, proof } };
  });

  app.get<{ Params: { patient: string }; Querystring: { ids?: string } }>('/v1/clinician/proofs/:patient', pre, async (req, reply) => {
    const catalog = o.catalog;
    if (!catalog) throw refuse(404, 'no-catalog', 'this ingest serves no catalog');
    const patient = patientParam(req.params.patient, 'the patient in the path');
    const ids = [...new Set((req.query.ids ?? '').split(',').filter((x) => x !== ''))];
    if (!ids.length || ids.length > MAX_PROOF_IDS) throw refuse(400, 'bad-id', `ids must name 1 to ${MAX_PROOF_IDS} batches, comma-separated`);
    const bad = ids.find((id) => !ID_RE.test(id));
    if (bad !== undefined) throw refuse(400, 'bad-id', `each batch id must be 64 lowercase hex, not ${JSON.stringify(bad.slice(0, 70))}`);
    const windows = await windowsOf(req, reply, patient, { patient });
    const headers = await Promise.all(ids.map(async (id) => {
      const bytes = await backing('storage', () => o.store.get(batchKey(patient, id)));
      const p = bytes && parseBatch(bytes);
      if (!p || !p.ok) throw refuse(404, 'not-found', `no batch ${id} of ${patient}`);
      return p.value.header;
    }));
    const d: Decision = {
      patient,
      stream: [...new Set(headers.map((h) => h.stream))].join(','),
      from: Math.min(...headers.map((h) => h.firstTs)),
      to: Math.max(...headers.map((h) => h.lastTs)),
    };
    const used = headers.map((h) => servingWindow(windows, h));
    const outside = headers.find((_, i) => !used[i]);
    await decide(req, reply, d, outside
      ? { deny: refuse(403, 'no-access', `batch ${ids[headers.indexOf(outside)]}: its ${outside.stream} readings at ${outside.firstTs}..${outside.lastTs} are outside what ${patient} granted`) }
      : { window: used.find((w) => w!.via === 'break-glass') ?? used[0]! });
    const anchors: Record<string, BundleAnchor | null> = {};
    await Promise.all(headers.map(async (h, i) => {
      const id = ids[i]!;
      const page = await backing('catalog', () => catalog.batches({ patientId: patient, from: h.firstTs, to: h.firstTs + 1, stream: h.stream, kind: h.kind, limit: 1000 }));
      const anchor = page.entries.find((e) => e.id === id)?.anchor;
      const proof = anchor && (await backing('storage', () => trees.proof(anchor.gateway, anchor.root, id)));
      anchors[id] = anchor && proof ? { gateway: anchor.gateway, root: anchor.root, tx: anchor.tx, block: anchor.block, proof } : null;
    }));
    return { anchors };
  });

  app.get<{ Querystring: Query }>('/v1/clinician/bundle', pre, async (req, reply) => {
    const catalog = o.catalog;
    if (!catalog) throw refuse(404, 'no-catalog', 'this ingest serves no catalog');
    const patient = patientParam(req.query.patientAccount);
    const { from, to, stream, kind = 'readings', after } = catalogPageQuery(req.query);
    if (!stream) throw refuse(400, 'bad-metadata', 'query parameter stream is required: a bundle holds one stream');
    const limit = Math.min(req.query.limit === undefined ? MAX_BUNDLE_BATCHES : requireInt(req.query, 'limit'), MAX_BUNDLE_BATCHES);
    if (limit < 1) throw refuse(400, 'bad-metadata', 'limit must be at least 1');
    const d = { patient, stream, from, to };
    const windows = await windowsOf(req, reply, patient, d);
    const w = allowingWindow(windows, stream, from, to);
    await decide(req, reply, d, w ? { window: w } : { deny: refuse(403, 'no-access', `no window gives access to ${stream} of ${patient} in [${from}, ${to})`) });
    const page = await backing('catalog', () => catalog.batches({ patientId: patient, stream, kind, from, to, limit, ...(after && { after }) }));
    const allowed = page.entries.filter((e) => servingWindow(windows, e));
    const parts = await mapLimit(allowed, 16, async (e) => {
      const [bytes, proof] = await Promise.all([
        backing('storage', () => o.store.get(batchKey(patient, e.id))),
        e.anchor ? backing('storage', () => trees.proof(e.anchor!.gateway, e.anchor!.root, e.id)) : null,
      ]);
      if (!bytes) {
        // The catalog is an index of storage: a batch it names that storage lacks is left out, and said.
        req.log.warn({ patient, id: e.id }, 'a cataloged batch is missing from storage: left out of the bundle');
        return null;
      }
      const h = parseBatch(bytes);
      const item: Omit<BundleItem, 'bytes'> = {
        id: e.id, patientAccount: patient, patient: h.ok ? h.value.header.patientId : patient, stream: e.stream, device: e.deviceId,
        epoch: e.epoch, seq: e.seq, firstTs: e.firstTs, lastTs: e.lastTs, count: e.count,
        ...(e.anchor && proof && { anchor: { gateway: e.anchor.gateway, root: e.anchor.root, tx: e.anchor.tx, block: e.anchor.block, proof } }),
      };
      return { item, bytes };
    });
    const body = encodeDownloadBundle(parts.filter((x) => x !== null), page.next);
    return reply.type('application/octet-stream').header('cache-control', 'no-store').send(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  });

  app.get<{ Querystring: Query }>('/v1/clinician/latest', pre, async (req, reply) => {
    const catalog = o.catalog;
    if (!catalog) throw refuse(404, 'no-catalog', 'this ingest serves no catalog');
    const streams = streamsParam(req.query.streams);
    const clinician = o.clinicianOf(req);
    const limit = req.query.limit === undefined ? LATEST_PAGE_PATIENTS : Math.min(requireInt(req.query, 'limit'), LATEST_PAGE_PATIENTS);
    if (limit < 1) throw refuse(400, 'bad-metadata', 'limit must be at least 1');
    const after = req.query.after;
    if (after !== undefined && !isAddress(after)) throw refuse(400, 'bad-cursor', 'after must be the `next` of a previous page');
    // Where the time went, for the browser's developer tools and the bench (Server-Timing).
    const timing: string[] = [];
    let lap = performance.now();
    const mark = (phase: string) => { const t = performance.now(); timing.push(`${phase};dur=${(t - lap).toFixed(1)}`); lap = t; };
    const [banned, everyone] = await backing('chain', () => Promise.all([o.access.isBanned(clinician), o.access.patientsOf(clinician)]));
    if (banned) await decide(req, reply, {}, { deny: refuse(403, 'banned', `${clinician} is banned by the Registry: every request is refused`) });
    // By account, lowercase: a page boundary that does not move when patients come and go.
    const ordered = [...everyone].sort((a, b) => (a.toLowerCase() < b.toLowerCase() ? -1 : 1));
    const rest = after === undefined ? ordered : ordered.filter((a) => a.toLowerCase() > after.toLowerCase());
    const patients = rest.slice(0, limit);
    const next = rest.length > limit ? patients[patients.length - 1]! : null;
    const now = Date.now();
    const from = now - LATEST_LOOKBACK_MS;
    const to = now + CLOCK_AHEAD_MS;
    /** The readings batches of `stream` that began in [a, b) and that the windows allow, newest (by last reading) first. */
    const allowedIn = async (patient: string, stream: StreamName, windows: AccessWindow[], a: number, b: number): Promise<CatalogEntry[]> => {
      const out: CatalogEntry[] = [];
      let after: string | undefined;
      do {
        const page = await backing('catalog', () => catalog.batches({ patientId: patient, stream, from: a, to: b, limit: 1000, ...(after && { after }), kind: 'readings' }));
        out.push(...page.entries.filter((e) => allowingWindow(windows, e.stream, e.firstTs, e.lastTs)));
        after = page.next ?? undefined;
      } while (after);
      return out.sort((x, y) => y.lastTs - x.lastTs || y.firstTs - x.firstTs);
    };
    /**
     * The first of `candidates` whose epoch's envelope this clinician has, trying at most
     * LATEST_EPOCHS_TRIED epochs in all (`tried`, shared between the calls for one stream).
     */
    const openable = async (patient: string, stream: StreamName, candidates: CatalogEntry[], tried: Map<number, Uint8Array | undefined>): Promise<{ e: CatalogEntry; envelope: Uint8Array } | undefined> => {
      for (const e of candidates) {
        if (!tried.has(e.epoch)) {
          if (tried.size === LATEST_EPOCHS_TRIED) break;
          tried.set(e.epoch, await backing('storage', () => o.store.get(envelopeKey(clinician, patient, stream, e.epoch))));
        }
        const envelope = tried.get(e.epoch);
        if (envelope) return { e, envelope };
      }
      return undefined;
    };
    /**
     * The newest batch of `stream` this clinician can open: the newest allowed one whose epoch's
     * envelope is there, looking back over at most LATEST_EPOCHS_TRIED epochs (a new epoch's
     * envelope may not have arrived yet: the row shows the last value it can, with its time); the
     * newest allowed one, without envelope, when none of them has one. The catalog's newest few
     * answer almost always; the older batches of the look-back are read only when none of those is
     * allowed (a grant whose data window ended before them) or opens (a new epoch's first batches,
     * its envelope on its way).
     */
    const newest = async (patient: string, stream: StreamName, windows: AccessWindow[]): Promise<{ e: CatalogEntry; envelope?: Uint8Array } | undefined> => {
      const recent = await backing('catalog', () => catalog.newestBatches({ patientId: patient, stream, from, to, limit: LATEST_CANDIDATES }));
      const byLast = (x: CatalogEntry, y: CatalogEntry) => y.lastTs - x.lastTs || y.firstTs - x.firstTs;
      const allowed: CatalogEntry[] = recent.filter((e) => allowingWindow(windows, e.stream, e.firstTs, e.lastTs)).sort(byLast);
      const tried = new Map<number, Uint8Array | undefined>();
      const found = await openable(patient, stream, allowed, tried);
      if (found || recent.length < LATEST_CANDIDATES) return found ?? (allowed.length ? { e: allowed[0]! } : undefined);
      // The rest of the look-back: up to the oldest of the newest few (that one's own time again, for a batch beside it).
      const seen = new Set(recent.map((e) => e.id));
      const older = (await allowedIn(patient, stream, windows, from, recent.at(-1)!.firstTs + 1)).filter((e) => !seen.has(e.id));
      const all = allowed.concat(older).sort(byLast);
      return (await openable(patient, stream, all, tried)) ?? (all.length ? { e: all[0]! } : undefined);
    };
    // The chain first, for every patient in one question (cached a few seconds), then the catalog.
    const windowsByPatient = await backing('chain', () => o.access.windowsOfPatients(clinician, patients));
    mark('chain');
    const found = await mapLimit(patients, LATEST_CONCURRENCY, async (patient, i) => {
      const windows = windowsByPatient[i]!;
      if (!windows.length) return null;
      const granted = streams.filter((s) => windows.some((w) => (w.streams & (1 << STREAMS[s].id)) !== 0));
      const picked = (await Promise.all(granted.map((s) => newest(patient, s, windows)))).filter((x) => x !== undefined);
      return { patient, windows, granted, entries: picked.map((x) => x.e), envelopes: picked };
    });
    const listed = found.filter((x) => x !== null);
    // One decision per patient, each logged before anything of it is sent.
    const entries = listed.map((x) => {
      const used = x.entries.map((e) => allowingWindow(x.windows, e.stream, e.firstTs, e.lastTs)!);
      const w = used.find((u) => u.via === 'break-glass') ?? used[0] ?? x.windows[0]!;
      return entryOf(req, { patient: x.patient, ...(x.granted.length && { stream: x.granted.join(',') }), from, to }, { window: w });
    });
    mark('catalog-envelopes');
    // The log and the reads side by side: reading into this process discloses nothing, and the
    // answer is sent only once every entry is durable (a failed append fails the request, unsent).
    const since = (t: number) => (performance.now() - t).toFixed(1);
    const t = performance.now();
    // A failed append stops the reads from starting more: their answer could not be sent anyway.
    const logFailed = new AbortController();
    const logged = backing('storage', async () => {
      // Every append settles before a failure is thrown: a break-glass entry that is stored is
      // announced, whatever happens to the others and to the reads.
      const appends = await Promise.allSettled(entries.map((e) => o.accessLog.append(e)));
      appends.forEach((a, i) => {
        const e = entries[i]!;
        if (a.status === 'fulfilled' && e.breakGlass) req.log.warn({ clinician, patient: e.patient, requestId: e.requestId }, 'access under BREAK-GLASS');
      });
      const failed = appends.find((a) => a.status === 'rejected');
      if (failed) throw failed.reason;
    }).then(() => since(t), (e: unknown) => {
      logFailed.abort(e);
      throw e;
    });
    const read = mapLimit(listed, LATEST_CONCURRENCY, async (x) => {
      const batches = (await Promise.all(x.entries.map(async (e) => {
        const bytes = await backing('storage', () => o.store.get(batchKey(x.patient, e.id)));
        return bytes && { id: e.id, stream: e.stream, deviceId: e.deviceId, epoch: e.epoch, seq: e.seq, firstTs: e.firstTs, lastTs: e.lastTs, count: e.count, sealed: Buffer.from(bytes).toString('base64') };
      }))).filter((b) => b !== undefined);
      const envelopes = x.envelopes.flatMap(({ e, envelope }) => (envelope ? [{ stream: e.stream, epoch: e.epoch, envelope: Buffer.from(envelope).toString('base64') }] : []));
      return { patientAccount: x.patient, access: accessOf(x.windows), batches, envelopes };
    }, logFailed.signal).then((r) => ({ out: r, ms: since(t) }));
    // Both settle before either failure is thrown, and a failure on either side stops the reads
    // from starting more.
    const [logMs, result] = await Promise.allSettled([logged, read]).then(([l, r]) => {
      if (l.status === 'rejected') throw l.reason;
      if (r.status === 'rejected') throw r.reason;
      return [l.value, r.value] as const;
    });
    const out = result.out;
    void reply.header('x-request-id', entries.map((e) => e.requestId).join(',').slice(0, 4000));
    // The two ran at once: each its own duration, from the same start.
    timing.push(`access-log;dur=${logMs}`, `read;dur=${result.ms}`);
    void reply.header('server-timing', timing.join(', '));
    return { patients: out, from, to, next };
  });

  app.get<{ Querystring: Query }>('/v1/clinician/envelopes', pre, async (req, reply) => {
    const patient = patientParam(req.query.patientAccount);
    const stream = req.query.stream;
    if (stream !== undefined && !isStreamName(stream)) throw refuse(400, 'bad-metadata', `query parameter stream must be a stream name, not ${JSON.stringify(stream.slice(0, 16))}`);
    const limit = req.query.limit === undefined ? 1000 : Math.min(requireInt(req.query, 'limit'), 1000);
    if (limit < 1) throw refuse(400, 'bad-metadata', 'limit must be at least 1');
    const clinician = o.clinicianOf(req);
    const prefix = stream ? envelopeKey(clinician, patient, stream, 0).replace(/\d+$/, '') : `envelopes/${clinician}/${patient}/`;
    const after = req.query.after;
    if (after !== undefined && !after.startsWith(prefix)) throw refuse(400, 'bad-cursor', 'after must be the `next` of a previous page');
    const d = { patient, ...(stream && { stream }) };
    const windows = await windowsOf(req, reply, patient, d);
    await decide(req, reply, d, { window: windows[0]! });
    const keys = await backing('storage', () => o.store.list(prefix, after, limit));
    // Read side by side (a page is up to 1000 objects; one at a time was ~0.2 s of a patient view).
    const read = await mapLimit(keys, 16, async (k) => {
      const bytes = await backing('storage', () => o.store.get(k));
      if (!bytes) return null;
      const [, , , s, epoch] = k.split('/');
      return { stream: s, epoch: Number(epoch), envelope: Buffer.from(bytes).toString('base64') };
    });
    return { envelopes: read.filter((e) => e !== null), next: keys.length === limit ? keys.at(-1)! : null };
  });

  app.get<{ Querystring: Query }>('/v1/clinician/access-log', pre, async (req) => {
    const clinician = o.clinicianOf(req);
    const limit = req.query.limit === undefined ? 500 : Math.min(requireInt(req.query, 'limit'), 1000);
    if (limit < 1) throw refuse(400, 'bad-metadata', 'limit must be at least 1');
    let cursor = req.query.after;
    if (cursor !== undefined && !cursor.startsWith('access-log/')) throw refuse(400, 'bad-cursor', 'after must be the `next` of a previous page');
    // A scan of the log: it is kept by time, not by clinician (an index comes when logs grow large).
    const entries: unknown[] = [];
    for (;;) {
      const keys = await backing('storage', () => o.store.list('access-log/', cursor, 1000));
      for (const k of keys) {
        const bytes = await backing('storage', () => o.store.get(k));
        if (!bytes) continue;
        let e: AccessLogEntry;
        try { e = JSON.parse(Buffer.from(bytes).toString('utf8')) as AccessLogEntry; } catch { continue; }
        if (e.clinician !== clinician) continue;
        entries.push(e);
        if (entries.length === limit) return { entries, next: k };
      }
      if (keys.length < 1000) return { entries, next: null };
      cursor = keys.at(-1);
    }
  });

  app.get<{ Querystring: Query }>('/v1/clinician/feed', pre, async (req, reply) => {
    const catalog = o.catalog;
    if (!catalog) throw refuse(404, 'no-catalog', 'this ingest serves no catalog');
    const patient = patientParam(req.query.patientAccount);
    const clinician = o.clinicianOf(req);
    const windows = await windowsOf(req, reply, patient, { patient });
    await decide(req, reply, { patient }, { window: windows[0]! });
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write(': vitalgate live feed\n\n');
    /** Batches already sent, by first reading time: forgotten once older than the lookback. */
    const seen = new Map<string, number>();
    let closed = false;
    const tick = async (): Promise<void> => {
      let current: AccessWindow[];
      try {
        current = await o.access.windows(clinician, patient);
        if (await o.access.isBanned(clinician)) current = [];
      } catch {
        res.write('event: unavailable\ndata: {"reason":"the chain cannot be read: the feed pauses (fails closed) until it can"}\n\n');
        return;
      }
      if (current.length === 0) {
        res.write('event: revoked\ndata: {"reason":"access to this patient ended"}\n\n');
        res.end();
        closed = true;
        return;
      }
      const since = Date.now() - FEED_LOOKBACK_MS;
      for (const [id, ts] of seen) if (ts < since) seen.delete(id);
      try {
        let after: string | undefined;
        do {
          const page = await catalog.batches({ patientId: patient, from: since, to: Number.MAX_SAFE_INTEGER, limit: 1000, ...(after && { after }) });
          for (const e of page.entries) {
            if (closed || seen.has(e.id) || !allowingWindow(current, e.stream, e.firstTs, e.lastTs)) continue;
            seen.set(e.id, e.firstTs);
            res.write(`event: batch\ndata: ${JSON.stringify(e)}\n\n`);
          }
          after = page.next ?? undefined;
        } while (after && !closed);
      } catch {
        // The catalog is down: the next tick tries again; nothing is skipped, the lookback covers it.
      }
    };
    // One look at a time; a look asked for meanwhile runs right after (new batches may have come).
    let running: Promise<void> | undefined;
    let again = false;
    const look = (): void => {
      if (closed) return;
      if (running) { again = true; return; }
      running = tick().finally(() => {
        running = undefined;
        if (again) { again = false; look(); }
      });
    };
    const timer = setInterval(look, o.feedIntervalMs ?? 1000);
    const onAdded = (p: string) => { if (p === patient) look(); };
    o.catalogEvents?.on('added', onAdded);
    req.raw.on('close', () => {
      closed = true;
      clearInterval(timer);
      o.catalogEvents?.off('added', onAdded);
    });
    look();
    await running;
  });
}
