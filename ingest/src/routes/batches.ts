/**
 * POST /v1/batches
 *   Body: a batch bundle (docs/ingest.md, protocol/src/batch-bundle.ts): up to 256 sealed batches
 *   with a manifest carrying, per batch, what a single PUT carries in its query. One signature
 *   covers them all. Each batch is checked and stored as a single PUT would be, and answered on its
 *   own: 200 {"results": [{"id", "status", "error"?, "message"?}]}, status 201 (stored), 200
 *   (already there) or the 4xx a single PUT would get. A backing service failing fails the whole
 *   request (503): batches stored before it are kept, and the retry finds them (200).
 * PUT /v1/batches/{id}?patient=&patientAccount=&stream=&device=&epoch=&seq=&firstTs=&lastTs=&count=
 *   Body: the sealed batch (application/octet-stream). The id must be its SHA-256. Its sealed header
 *   (authenticated plaintext: no key is needed to read it) must match the query, and the calling
 *   gateway must be the one the Registry binds `patientAccount` to. 201 when stored, 200 when the
 *   same bytes were already there (idempotent).
 * GET /v1/batches/{id}?patientAccount=
 *   The stored ciphertext, to the patient's own gateway.
 * GET /v1/batches?patientAccount=[&after=ID][&limit=N]
 *   The ids of the patient's stored batches, ascending, N at a time (default and most 1000):
 *   {"ids": [...], "next": ID | null}. Pass `next` as `after` for the following page.
 */
import type { FastifyInstance, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { getAddress, isAddress } from 'ethers';
import { batchId, isValidId, parseBatch, parseBundle, type BatchHeader } from '@vitalgate/protocol';
import { catalogBatchOf, type Catalog } from '../catalog/catalog.js';
import { backing, IngestError, refuse } from '../errors.js';
import { accountOf, requireInt, type Query } from './query.js';
import type { GatewayDirectory } from '../gateway-directory.js';
import { batchKey, type ObjectStore } from '../storage/object-store.js';

const ID_RE = /^[0-9a-f]{64}$/;

export interface BatchRouteOptions {
  store: ObjectStore;
  directory: GatewayDirectory;
  catalog?: Catalog;
  auth: preHandlerAsyncHookHandler;
}

function requireId(id: string): string {
  if (!ID_RE.test(id)) throw refuse(400, 'bad-id', 'the batch id must be 64 lowercase hex characters (the SHA-256 of the sealed batch)');
  return id;
}


/** What a batch claims to be: a single PUT's query, or a bundle's manifest item. */
interface BatchMeta { patient?: string; stream?: string; device?: string; epoch: number; seq: number; firstTs: number; lastTs: number; count: number }

/** The body is the batch `id` names and its sealed header says what `meta` says; else the refusal. */
function checkBatch(id: string, body: Uint8Array, meta: BatchMeta): BatchHeader {
  if (batchId(body) !== id) throw refuse(400, 'id-mismatch', 'the body does not hash to the batch id in the path');
  if (meta.patient === undefined || !isValidId(meta.patient)) throw refuse(400, 'bad-metadata', 'query parameter patient must be the gateway\'s patient id');
  const parsed = parseBatch(body);
  if (!parsed.ok) throw refuse(400, 'bad-batch', `not a sealed batch: ${parsed.reason}`);
  const h = parsed.value.header;
  const expect: Array<[string, unknown, unknown]> = [
    ['patient', h.patientId, meta.patient], ['stream', h.stream, meta.stream], ['device', h.deviceId, meta.device],
    ['epoch', h.epoch, meta.epoch], ['seq', h.seq, meta.seq], ['firstTs', h.firstTs, meta.firstTs], ['lastTs', h.lastTs, meta.lastTs], ['count', h.count, meta.count],
  ];
  const wrong = expect.filter(([, inHeader, claimed]) => inHeader !== claimed).map(([name]) => name);
  if (wrong.length) throw refuse(400, 'header-mismatch', `the sealed header does not match the request's ${wrong.join(', ')}`);
  return h;
}

/** Batches of one bundle stored at once: enough to keep S3 busy, few enough to bound memory. */
const BUNDLE_STORE_CONCURRENCY = 16;

export async function batchRoutes(app: FastifyInstance, o: BatchRouteOptions): Promise<void> {
  app.put<{ Params: { id: string }; Querystring: Query }>('/v1/batches/:id', { preHandler: o.auth }, async (req, reply) => {
    const id = requireId(req.params.id);
    const body = req.body as unknown;
    if (!(body instanceof Uint8Array) || body.length === 0) throw refuse(400, 'empty-body', 'the body must be the sealed batch (application/octet-stream)');
    if (batchId(body) !== id) throw refuse(400, 'id-mismatch', 'the body does not hash to the batch id in the path');
    const patientId = req.query.patient;
    if (patientId === undefined || !isValidId(patientId)) throw refuse(400, 'bad-metadata', 'query parameter patient must be the gateway\'s patient id');
    const account = await accountOf(req.query, req.gateway!, o.directory);
    const h = checkBatch(id, body, {
      patient: patientId, ...(req.query.stream !== undefined && { stream: req.query.stream }), ...(req.query.device !== undefined && { device: req.query.device }),
      epoch: requireInt(req.query, 'epoch'), seq: requireInt(req.query, 'seq'), firstTs: requireInt(req.query, 'firstTs'), lastTs: requireInt(req.query, 'lastTs'), count: requireInt(req.query, 'count'),
    });
    const created = await backing('storage', () => o.store.put(batchKey(account, id), body));
    // Cataloged even when already stored: a crash between the two left the catalog without it.
    if (o.catalog) await backing('catalog', () => o.catalog!.addBatch(catalogBatchOf(account, id, h, body.length)));
    req.log.info({ id, patientId, gateway: req.gateway, bytes: body.length, created }, created ? 'batch stored' : 'batch already stored');
    return reply.code(created ? 201 : 200).send({ id, stored: true, created });
  });

  app.post('/v1/batches', { preHandler: o.auth }, async (req) => {
    const body = req.body as unknown;
    if (!(body instanceof Uint8Array) || body.length === 0) throw refuse(400, 'empty-body', 'the body must be a batch bundle (application/octet-stream)');
    const b = parseBundle(body);
    if (!b.ok) throw refuse(400, 'bad-bundle', `not a batch bundle: ${b.reason}`);
    // Each patient account is checked against the Registry once per bundle, not once per batch.
    const servedBy = new Map<string, Promise<string | undefined>>();
    const checksummed = new Map<string, string>();
    const results: Array<{ id: string; status: number; error?: string; message?: string }> = [];
    const accepted: Array<{ i: number; account: string; id: string; body: Uint8Array; h: BatchHeader }> = [];
    for (const [i, item] of b.value.items.entries()) {
      try {
        if (!ID_RE.test(item.id)) throw refuse(400, 'bad-id', 'the batch id must be 64 lowercase hex characters (the SHA-256 of the sealed batch)');
        // Checksumming an address costs a keccak: once per distinct spelling in the bundle.
        let account = checksummed.get(item.patientAccount);
        if (account === undefined) {
          if (!isAddress(item.patientAccount)) throw refuse(400, 'bad-metadata', 'patientAccount must be the patient\'s 0x account');
          account = getAddress(item.patientAccount);
          checksummed.set(item.patientAccount, account);
        }
        if (!servedBy.has(account)) servedBy.set(account, backing('chain', () => o.directory.gatewayOf(account)));
        if ((await servedBy.get(account)) !== req.gateway) throw refuse(403, 'not-your-patient', `patient account ${account} is not served by ${req.gateway}`);
        const h = checkBatch(item.id, b.value.bodies[i]!, item);
        results.push({ id: item.id, status: 0 });
        accepted.push({ i, account, id: item.id, body: b.value.bodies[i]!, h });
      } catch (e) {
        // A backing service down fails the whole request (503): the gateway retries it all.
        if (!(e instanceof IngestError) || e.statusCode >= 500) throw e;
        results.push({ id: item.id, status: e.statusCode, error: e.code, message: e.message });
      }
    }
    let next = 0;
    await Promise.all(Array.from({ length: Math.min(BUNDLE_STORE_CONCURRENCY, accepted.length) }, async () => {
      while (next < accepted.length) {
        const a = accepted[next++]!;
        const created = await backing('storage', () => o.store.put(batchKey(a.account, a.id), a.body));
        results[a.i]!.status = created ? 201 : 200;
      }
    }));
    // Cataloged once all are stored (a catalog row never names a batch storage lacks), in one go.
    if (o.catalog && accepted.length) await backing('catalog', () => o.catalog!.addBatches(accepted.map((a) => catalogBatchOf(a.account, a.id, a.h, a.body.length))));
    req.log.info({ gateway: req.gateway, batches: results.length, stored: results.filter((r) => r.status === 201).length, refused: results.filter((r) => r.status >= 400).length }, 'bundle taken');
    return { results };
  });

  app.get<{ Querystring: Query }>('/v1/batches', { preHandler: o.auth }, async (req) => {
    const account = await accountOf(req.query, req.gateway!, o.directory);
    const limit = req.query.limit === undefined ? 1000 : Math.min(requireInt(req.query, 'limit'), 1000);
    if (limit < 1) throw refuse(400, 'bad-metadata', 'limit must be at least 1');
    const after = req.query.after === undefined ? undefined : requireId(req.query.after);
    const prefix = batchKey(account, '');
    const keys = await backing('storage', () => o.store.list(prefix, after === undefined ? undefined : prefix + after, limit));
    const ids = keys.map((k) => k.slice(prefix.length));
    return { ids, next: ids.length === limit ? ids.at(-1)! : null };
  });

  app.get<{ Params: { id: string }; Querystring: Query }>('/v1/batches/:id', { preHandler: o.auth }, async (req, reply) => {
    const id = requireId(req.params.id);
    const account = await accountOf(req.query, req.gateway!, o.directory);
    const bytes = await backing('storage', () => o.store.get(batchKey(account, id)));
    if (!bytes) throw refuse(404, 'not-found', `no batch ${id} for patient account ${account}`);
    return reply.type('application/octet-stream').send(Buffer.from(bytes));
  });
}
