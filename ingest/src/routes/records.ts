/**
 * PUT /v1/epochs/{epoch}   Body: an epoch record (protocol/src/cloud-records.ts).
 * PUT /v1/anchors/{root}   Body: an anchor record.
 *   Metadata only, never a key. Each is stored once under the calling gateway's name; the same
 *   bytes again are a no-op (200), different bytes for the same name are a 409 (records are
 *   immutable, like batches). 201 when stored.
 *
 * GET /v1/anchors[?after=ROOT][&limit=N]   The roots of the calling gateway's anchor records, ascending:
 *   {"roots": [...], "next": ROOT | null}.
 * GET /v1/anchors/{root}   One of the calling gateway's anchor records, as uploaded.
 *
 * An anchor record is believed only as far as it can be checked:
 *   - its root must be the Merkle root of exactly the batch ids it lists;
 *   - the chain must hold that root for the calling gateway (DataAnchor, per submitter);
 *   - every batch it names must already be stored, under the patient it names, with the stream and
 *     first timestamp it names (read from the stored sealed header). A batch not stored yet is a 409
 *     `batches-not-stored`: the gateway's spool retries, by then the batch has arrived.
 * Only then does the catalog learn which anchor covers which batch.
 */
import type { FastifyInstance, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { getAddress } from 'ethers';
import { buildBatchTree } from '@vitalgate/contracts';
import { parseAnchorRecord, parseBatch, parseEpochRecord, type AnchoredBatch } from '@vitalgate/protocol';
import { catalogAnchorOf, type Catalog } from '../catalog/catalog.js';
import { backing, refuse } from '../errors.js';
import type { GatewayDirectory } from '../gateway-directory.js';
import { batchKey, type ObjectStore } from '../storage/object-store.js';

export interface RecordRouteOptions {
  store: ObjectStore;
  directory: GatewayDirectory;
  catalog?: Catalog;
  auth: preHandlerAsyncHookHandler;
}

export const epochKey = (gateway: string, epoch: number): string => `records/${gateway}/epochs/${String(epoch).padStart(10, '0')}`;
export const anchorKey = (gateway: string, root: string): string => `records/${gateway}/anchors/${root}`;

const ROOT_RE = /^0x[0-9a-f]{64}$/;
/** Stored batches read at once while checking an anchor record. */
const CHECK_CONCURRENCY = 16;

function bodyOf(req: FastifyRequest): Uint8Array {
  const body = req.body as unknown;
  if (!(body instanceof Uint8Array) || body.length === 0) throw refuse(400, 'empty-body', 'the body must be the record (application/octet-stream, UTF-8 JSON)');
  return body;
}

/** Stores an immutable record: true when created, false when the same bytes were there; 409 otherwise. */
async function putOnce(store: ObjectStore, key: string, bytes: Uint8Array): Promise<boolean> {
  if (await store.put(key, bytes)) return true;
  const have = await store.get(key);
  if (!have || Buffer.compare(Buffer.from(have), Buffer.from(bytes)) !== 0) throw refuse(409, 'record-conflict', `a different record is already stored as ${key.split('/').slice(2).join(' ')}`);
  return false;
}

/** The listed batches that are not stored as listed (missing, or under another stream or time). */
async function unstored(store: ObjectStore, batches: AnchoredBatch[]): Promise<{ missing: number; mismatched: string[] }> {
  let missing = 0;
  const mismatched: string[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < batches.length) {
      const b = batches[next++]!;
      const bytes = await store.get(batchKey(getAddress(b.patientAccount), b.id));
      if (!bytes) {
        missing++;
        continue;
      }
      const p = parseBatch(bytes);
      if (!p.ok || p.value.header.stream !== b.stream || p.value.header.firstTs !== b.firstTs) mismatched.push(b.id);
    }
  };
  await Promise.all(Array.from({ length: CHECK_CONCURRENCY }, worker));
  return { missing, mismatched };
}

export async function recordRoutes(app: FastifyInstance, o: RecordRouteOptions): Promise<void> {
  app.put<{ Params: { epoch: string } }>('/v1/epochs/:epoch', { preHandler: o.auth }, async (req, reply) => {
    if (!/^\d{1,10}$/.test(req.params.epoch)) throw refuse(400, 'bad-epoch', 'the epoch in the path must be a non-negative integer');
    const body = bodyOf(req);
    const r = parseEpochRecord(body);
    if (!r.ok) throw refuse(400, 'bad-record', `not an epoch record: ${r.reason}`);
    if (r.value.epoch !== Number(req.params.epoch)) throw refuse(400, 'record-mismatch', 'the record\'s epoch is not the one in the path');
    if (getAddress(r.value.gateway) !== req.gateway) throw refuse(403, 'not-your-record', 'an epoch record can only be uploaded by the gateway it names');
    const created = await backing('storage', () => putOnce(o.store, epochKey(req.gateway!, r.value.epoch), body));
    return reply.code(created ? 201 : 200).send({ epoch: r.value.epoch, stored: true, created });
  });

  app.put<{ Params: { root: string } }>('/v1/anchors/:root', { preHandler: o.auth }, async (req, reply) => {
    if (!ROOT_RE.test(req.params.root)) throw refuse(400, 'bad-root', 'the root in the path must be 0x and 64 lowercase hex');
    const body = bodyOf(req);
    const r = parseAnchorRecord(body);
    if (!r.ok) throw refuse(400, 'bad-record', `not an anchor record: ${r.reason}`);
    const a = r.value;
    if (a.root !== req.params.root) throw refuse(400, 'record-mismatch', 'the record\'s root is not the one in the path');
    if (getAddress(a.gateway) !== req.gateway) throw refuse(403, 'not-your-record', 'an anchor record can only be uploaded by the gateway that anchored it');
    if (new Set(a.batches.map((b) => b.id)).size !== a.batches.length) throw refuse(400, 'bad-record', 'the record lists a batch twice');
    if (buildBatchTree(a.batches.map((b) => b.id)).root !== a.root) throw refuse(400, 'root-mismatch', 'the root is not the Merkle root of the batch ids listed');
    if (!(await o.directory.isAnchored(req.gateway, a.root))) throw refuse(409, 'anchor-not-on-chain', `the chain holds no root ${a.root} from ${req.gateway}`);
    // Each batch must belong to one of this gateway's patients: stored under their account.
    for (const account of new Set(a.batches.map((b) => getAddress(b.patientAccount)))) {
      if ((await o.directory.gatewayOf(account)) !== req.gateway) throw refuse(403, 'not-your-patient', `patient account ${account} is not served by ${req.gateway}`);
    }
    const { missing, mismatched } = await backing('storage', () => unstored(o.store, a.batches));
    if (mismatched.length) throw refuse(400, 'record-mismatch', `${mismatched.length} listed batch(es) are stored under another stream or first timestamp, e.g. ${mismatched[0]}`);
    if (missing) throw refuse(409, 'batches-not-stored', `${missing} of the ${a.batches.length} batches under this root are not stored yet; upload them first`);
    const created = await backing('storage', () => putOnce(o.store, anchorKey(req.gateway!, a.root), body));
    if (o.catalog) {
      const { anchor, refs } = catalogAnchorOf(a);
      await backing('catalog', () => o.catalog!.addAnchor(anchor, refs));
    }
    req.log.info({ root: a.root, gateway: req.gateway, batches: a.batches.length, created }, created ? 'anchor record stored' : 'anchor record already stored');
    return reply.code(created ? 201 : 200).send({ root: a.root, stored: true, created });
  });

  app.get<{ Querystring: Record<string, string | undefined> }>('/v1/anchors', { preHandler: o.auth }, async (req) => {
    const limit = req.query.limit === undefined ? 1000 : Math.min(Number(req.query.limit), 1000);
    if (!Number.isInteger(limit) || limit < 1) throw refuse(400, 'bad-metadata', 'limit must be an integer from 1 to 1000');
    const after = req.query.after;
    if (after !== undefined && !ROOT_RE.test(after)) throw refuse(400, 'bad-root', 'after must be a root: 0x and 64 lowercase hex');
    const prefix = anchorKey(req.gateway!, '');
    const keys = await backing('storage', () => o.store.list(prefix, after === undefined ? undefined : prefix + after, limit));
    const roots = keys.map((k) => k.slice(prefix.length));
    return { roots, next: roots.length === limit ? roots.at(-1)! : null };
  });

  app.get<{ Params: { root: string } }>('/v1/anchors/:root', { preHandler: o.auth }, async (req, reply) => {
    if (!ROOT_RE.test(req.params.root)) throw refuse(400, 'bad-root', 'the root in the path must be 0x and 64 lowercase hex');
    const bytes = await backing('storage', () => o.store.get(anchorKey(req.gateway!, req.params.root)));
    if (!bytes) throw refuse(404, 'not-found', `no anchor record ${req.params.root} from ${req.gateway}`);
    return reply.type('application/json').send(Buffer.from(bytes));
  });
}
