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
import { isStreamName, parseBatch, streamById } from '@vitalgate/protocol';
import type { Catalog } from '../catalog/catalog.js';
import { backing, IngestError, refuse } from '../errors.js';
import { batchKey, type ObjectStore } from '../storage/object-store.js';
import { envelopeKey } from './envelopes.js';
import { catalogPageQuery, requireInt, type Query } from './query.js';
import type { AccessLog, AccessLogEntry } from '../clinician/access-log.js';
import { allowingWindow, type AccessWindow, type ClinicianAccess } from '../clinician/clinician-access.js';
import { buildBatchTree, streamIdsOf } from '@vitalgate/contracts';
import { parseAnchorRecord as parseAnchorUpload } from '@vitalgate/protocol';
import { anchorKey } from './records.js';

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
}

const ID_RE = /^[0-9a-f]{64}$/;
/** The live feed looks this far back for batches that arrived late (their first reading is older). */
const FEED_LOOKBACK_MS = 2 * 60_000;

interface Decision { patient?: string; stream?: string; from?: number; to?: number }

export async function clinicianRoutes(app: FastifyInstance, o: ClinicianRouteOptions): Promise<void> {
  /** Logs the decision durably, then returns (allow) or throws the refusal (deny). */
  async function decide(req: FastifyRequest, reply: FastifyReply, d: Decision, verdict: { window: AccessWindow } | { deny: IngestError }): Promise<AccessWindow> {
    const requestId = randomUUID();
    void reply.header('x-request-id', requestId);
    const clinician = o.clinicianOf(req);
    const entry: AccessLogEntry = {
      v: 1, ts: Date.now(), requestId, clinician, route: `${req.method} ${req.routeOptions.url ?? ''}`,
      ...(d.patient && { patient: d.patient }), ...(d.stream && { stream: d.stream }),
      ...(d.from !== undefined && { from: d.from }), ...(d.to !== undefined && { to: d.to }),
      decision: 'window' in verdict ? 'allow' : 'deny',
      reason: 'window' in verdict ? verdict.window.via : verdict.deny.code,
      breakGlass: 'window' in verdict && verdict.window.via === 'break-glass',
    };
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
    const patients = [];
    for (const p of await backing('chain', () => o.access.patientsOf(clinician))) {
      const windows = await backing('chain', () => o.access.windows(clinician, p));
      if (!windows.length) continue;
      patients.push({
        patientAccount: p,
        access: windows.map((w) => ({ via: w.via, grantee: w.grantee, streams: streamIdsOf(w.streams).map((id) => streamById(id)?.name), from: w.fromMs, until: w.untilMs, expiresAt: w.expiresAt })),
      });
    }
    return { patients };
  });

  app.get<{ Querystring: Query }>('/v1/clinician/catalog/batches', pre, async (req, reply) => {
    const catalog = o.catalog;
    if (!catalog) throw refuse(404, 'no-catalog', 'this ingest serves no catalog');
    const patient = patientParam(req.query.patientAccount);
    const { from, to, stream, limit, after } = catalogPageQuery(req.query);
    const d = { patient, ...(stream && { stream }), from, to };
    const windows = await windowsOf(req, reply, patient, d);
    const w = stream ? allowingWindow(windows, stream, from, to) : windows.find((x) => x.via === 'break-glass' || (x.fromMs < to && from <= x.untilMs));
    await decide(req, reply, d, w ? { window: w } : { deny: refuse(403, 'no-access', `no window gives access to ${stream ?? 'any stream'} of ${patient} in [${from}, ${to})`) });
    const page = await backing('catalog', () => catalog.batches({ patientId: patient, from, to, limit, ...(stream && { stream }), ...(after && { after }) }));
    return { entries: page.entries.filter((e) => allowingWindow(windows, e.stream, e.firstTs, e.lastTs)), next: page.next };
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
    const w = allowingWindow(windows, h.stream, h.firstTs, h.lastTs);
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
    const w = allowingWindow(windows, h.stream, h.firstTs, h.lastTs);
    await decide(req, reply, { patient, stream: h.stream, from: h.firstTs, to: h.lastTs }, w ? { window: w } : { deny: refuse(403, 'no-access', `this batch's ${h.stream} readings at ${h.firstTs}..${h.lastTs} are outside what ${patient} granted`) });
    const page = await backing('catalog', () => catalog.batches({ patientId: patient, from: h.firstTs, to: h.firstTs + 1, stream: h.stream, limit: 1000 }));
    const anchor = page.entries.find((e) => e.id === id)?.anchor;
    if (!anchor) return { anchor: null };
    const recordBytes = await backing('storage', () => o.store.get(anchorKey(anchor.gateway, anchor.root)));
    const record = recordBytes && parseAnchorUpload(recordBytes);
    if (!record || !record.ok) return { anchor: null };
    const tree = buildBatchTree(record.value.batches.map((b) => b.id));
    return { anchor: { gateway: anchor.gateway, root: anchor.root, tx: anchor.tx, block: anchor.block, proof: tree.proof(id) } };
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
    const envelopes = [];
    for (const k of keys) {
      const bytes = await backing('storage', () => o.store.get(k));
      if (!bytes) continue;
      const [, , , s, epoch] = k.split('/');
      envelopes.push({ stream: s, epoch: Number(epoch), envelope: Buffer.from(bytes).toString('base64') });
    }
    return { envelopes, next: keys.length === limit ? keys.at(-1)! : null };
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
    const timer = setInterval(() => {
      if (!closed) void tick();
    }, o.feedIntervalMs ?? 1000);
    req.raw.on('close', () => {
      closed = true;
      clearInterval(timer);
    });
    await tick();
  });
}
