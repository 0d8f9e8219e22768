/**
 * GET /v1/access-log?patientAccount=[&after=KEY][&limit=N]
 *   The patient's view of the access log: every decision about this patient's data, in time order,
 *   N at a time (default and most 1000), for the patient's own gateway (signed request):
 *   {"auditor": the account that anchors, "entries": [{"key", "entry": the stored JSON text,
 *    "hash", "anchor": {"root", "tx", "block", "proof"} | null}], "next": KEY | null}.
 *   The entry text is returned as stored, so the caller hashes exactly what was anchored; `anchor`
 *   is null for an entry not anchored yet (the current period) or never (written too late: see
 *   access-log-anchor.ts). Proving each entry against AuditLog is the caller's job: ingest is not
 *   trusted to say that its own log is intact.
 */
import type { FastifyInstance, preHandlerAsyncHookHandler } from 'fastify';
import { backing, refuse } from '../errors.js';
import type { GatewayDirectory } from '../gateway-directory.js';
import type { ObjectStore } from '../storage/object-store.js';
import { ACCESS_LOG_PREFIX, accessLogEntryHash, type AnchorRecords } from '../clinician/access-log-anchor.js';
import { accountOf, requireInt, type Query } from './query.js';

export interface AccessLogRouteOptions {
  store: ObjectStore;
  directory: GatewayDirectory;
  auth: preHandlerAsyncHookHandler;
  records: AnchorRecords;
  /** The account whose AuditLog roots anchor this log; null when this ingest does not anchor. */
  auditor: string | null;
}

interface Item { key: string; entry: string; hash: string; anchor: { root: string; tx: string | null; block: number | null; proof: string[] } | null }

export async function accessLogRoutes(app: FastifyInstance, o: AccessLogRouteOptions): Promise<void> {
  app.get<{ Querystring: Query }>('/v1/access-log', { preHandler: o.auth }, async (req) => {
    const patient = await accountOf(req.query, req.gateway!, o.directory);
    const limit = req.query.limit === undefined ? 1000 : Math.min(requireInt(req.query, 'limit'), 1000);
    if (limit < 1) throw refuse(400, 'bad-metadata', 'limit must be at least 1');
    const after = req.query.after;
    if (after !== undefined && !after.startsWith(ACCESS_LOG_PREFIX)) throw refuse(400, 'bad-cursor', 'after must be the `next` of a previous page');
    await backing('storage', () => o.records.refresh());
    const items: Item[] = [];
    let cursor = after;
    for (;;) {
      const keys = await backing('storage', () => o.store.list(ACCESS_LOG_PREFIX, cursor, 1000));
      for (const key of keys) {
        const anchored = o.records.anchorOf(key);
        // Anchored entries are attributed by their record, so only this patient's are read.
        if (anchored && anchored.entry.patient !== patient) continue;
        const bytes = await backing('storage', () => o.store.get(key));
        if (!bytes) continue;
        const text = Buffer.from(bytes).toString('utf8');
        if (!anchored) {
          let p: unknown;
          try {
            p = (JSON.parse(text) as { patient?: unknown }).patient;
          } catch {
            continue;
          }
          if (p !== patient) continue;
        }
        items.push({
          key, entry: text, hash: accessLogEntryHash(bytes),
          anchor: anchored ? { root: anchored.record.root, tx: anchored.record.tx, block: anchored.record.block, proof: o.records.tree(anchored.record).proof(anchored.entry.hash) } : null,
        });
        if (items.length === limit) return { auditor: o.auditor, entries: items, next: key };
      }
      if (keys.length < 1000) break;
      cursor = keys.at(-1);
    }
    return { auditor: o.auditor, entries: items, next: null };
  });
}
