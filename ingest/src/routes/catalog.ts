/**
 * GET /v1/catalog/batches?patientAccount=&from=&to=[&stream=][&after=CURSOR][&limit=N]
 *   The patient's batches whose first reading is in [from, to) (ms), ordered by (firstTs, id),
 *   N at a time (default and most 1000): {"entries": [...], "next": CURSOR | null}. Each entry has
 *   epoch, device, seq, count, bytes and, once its anchor record arrived, the anchor's root,
 *   transaction and block. Metadata only: the batches themselves come from /v1/batches/{id}.
 * GET /v1/catalog/hourly?patientAccount=&from=&to=
 *   Batches and readings per stream per UTC hour: {"hours": [{stream, hour, batches, readings}]}.
 *
 * Today the caller is the patient's own gateway; care teams reach the same queries once signed in.
 */
import type { FastifyInstance, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import type { Catalog } from '../catalog/catalog.js';
import { backing, refuse } from '../errors.js';
import type { GatewayDirectory } from '../gateway-directory.js';
import { accountOf, catalogPageQuery, requireInt, type Query } from './query.js';

export interface CatalogRouteOptions {
  catalog: Catalog;
  directory: GatewayDirectory;
  auth: preHandlerAsyncHookHandler;
}

/** The widest range one hourly query may span (a year of hours per stream is ~79,000 rows). */
const MAX_HOURLY_SPAN_MS = 366 * 24 * 3600_000;

function range(q: Query): { from: number; to: number } {
  const from = requireInt(q, 'from');
  const to = requireInt(q, 'to');
  if (to <= from) throw refuse(400, 'bad-range', 'to must be after from');
  return { from, to };
}

export async function catalogRoutes(app: FastifyInstance, o: CatalogRouteOptions): Promise<void> {
  app.get<{ Querystring: Query }>('/v1/catalog/batches', { preHandler: o.auth }, async (req) => {
    const patientId = await accountOf(req.query, req.gateway!, o.directory);
    const { from, to, stream, kind, limit, after } = catalogPageQuery(req.query);
    return backing('catalog', async () => {
      try {
        return await o.catalog.batches({ patientId, from, to, limit, ...(stream && { stream }), ...(kind && { kind }), ...(after && { after }) });
      } catch (e) {
        if (/cursor/i.test((e as Error).message)) throw refuse(400, 'bad-cursor', 'after must be the `next` of a previous page');
        throw e;
      }
    });
  });

  app.get<{ Querystring: Query }>('/v1/catalog/hourly', { preHandler: o.auth }, async (req) => {
    const patientId = await accountOf(req.query, req.gateway!, o.directory);
    const { from, to } = range(req.query);
    if (to - from > MAX_HOURLY_SPAN_MS) throw refuse(400, 'bad-range', 'an hourly overview spans at most 366 days; ask for several');
    return { hours: await backing('catalog', () => o.catalog.hourlyCounts({ patientId, from, to })) };
  });
}
