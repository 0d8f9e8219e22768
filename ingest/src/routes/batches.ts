/**
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
import { batchId, isValidId, parseBatch } from '@vitalgate/protocol';
import { catalogBatchOf, type Catalog } from '../catalog/catalog.js';
import { backing, refuse } from '../errors.js';
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


export async function batchRoutes(app: FastifyInstance, o: BatchRouteOptions): Promise<void> {
  app.put<{ Params: { id: string }; Querystring: Query }>('/v1/batches/:id', { preHandler: o.auth }, async (req, reply) => {
    const id = requireId(req.params.id);
    const body = req.body as unknown;
    if (!(body instanceof Uint8Array) || body.length === 0) throw refuse(400, 'empty-body', 'the body must be the sealed batch (application/octet-stream)');
    if (batchId(body) !== id) throw refuse(400, 'id-mismatch', 'the body does not hash to the batch id in the path');
    const patientId = req.query.patient;
    if (patientId === undefined || !isValidId(patientId)) throw refuse(400, 'bad-metadata', 'query parameter patient must be the gateway\'s patient id');
    const account = await accountOf(req.query, req.gateway!, o.directory);
    const parsed = parseBatch(body);
    if (!parsed.ok) throw refuse(400, 'bad-batch', `not a sealed batch: ${parsed.reason}`);
    const h = parsed.value.header;
    const expect: Array<[string, unknown, unknown]> = [
      ['patient', h.patientId, patientId],
      ['stream', h.stream, req.query.stream],
      ['device', h.deviceId, req.query.device],
      ['epoch', h.epoch, requireInt(req.query, 'epoch')],
      ['seq', h.seq, requireInt(req.query, 'seq')],
      ['firstTs', h.firstTs, requireInt(req.query, 'firstTs')],
      ['lastTs', h.lastTs, requireInt(req.query, 'lastTs')],
      ['count', h.count, requireInt(req.query, 'count')],
    ];
    const wrong = expect.filter(([, inHeader, inQuery]) => inHeader !== inQuery).map(([name]) => name);
    if (wrong.length) throw refuse(400, 'header-mismatch', `the sealed header does not match the request's ${wrong.join(', ')}`);
    const created = await backing('storage', () => o.store.put(batchKey(account, id), body));
    // Cataloged even when already stored: a crash between the two left the catalog without it.
    if (o.catalog) await backing('catalog', () => o.catalog!.addBatch(catalogBatchOf(account, id, h, body.length)));
    req.log.info({ id, patientId, gateway: req.gateway, bytes: body.length, created }, created ? 'batch stored' : 'batch already stored');
    return reply.code(created ? 201 : 200).send({ id, stored: true, created });
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
