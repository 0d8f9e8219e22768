/** Query parameters shared by the routes, checked with errors that name the parameter. */
import { getAddress, isAddress } from 'ethers';
import { BATCH_KINDS, isBatchKind, isStreamName, type BatchKind, type StreamName } from '@vitalgate/protocol';
import { refuse } from '../errors.js';
import type { GatewayDirectory } from '../gateway-directory.js';

export type Query = Record<string, string | undefined>;

export function requireInt(q: Query, name: string): number {
  const v = q[name];
  // Times are Unix milliseconds and callers ask for "up to the end of time" with 2^53 - 1.
  if (v === undefined || !/^\d{1,16}$/.test(v) || !Number.isSafeInteger(Number(v))) {
    throw refuse(400, 'bad-metadata', `query parameter ${name} must be an integer from 0 to ${Number.MAX_SAFE_INTEGER}`);
  }
  return Number(v);
}

/** The patient account named by the request, and a check that the caller is that patient's gateway. */
export async function accountOf(q: Query, gateway: string, directory: GatewayDirectory): Promise<string> {
  const account = q.patientAccount;
  if (account === undefined || !isAddress(account)) throw refuse(400, 'bad-metadata', 'query parameter patientAccount must be the patient\'s 0x account');
  const servedBy = await directory.gatewayOf(account);
  if (servedBy !== gateway) throw refuse(403, 'not-your-patient', `patient account ${getAddress(account)} is not served by ${gateway}`);
  return getAddress(account);
}


/** A catalog page query's from, to, stream, limit and after, each checked with an error naming it. */
export function catalogPageQuery(q: Query): { from: number; to: number; stream?: StreamName; kind?: BatchKind; limit: number; after?: string } {
  const from = requireInt(q, 'from');
  const to = requireInt(q, 'to');
  if (to <= from) throw refuse(400, 'bad-range', 'to must be after from');
  const stream = q.stream;
  if (stream !== undefined && !isStreamName(stream)) throw refuse(400, 'bad-metadata', `query parameter stream must be a stream name, not ${JSON.stringify(stream.slice(0, 16))}`);
  const limit = q.limit === undefined ? 1000 : Math.min(requireInt(q, 'limit'), 1000);
  if (limit < 1) throw refuse(400, 'bad-metadata', 'limit must be at least 1');
  const after = q.after;
  if (after !== undefined && !/^[A-Za-z0-9_-]{1,200}$/.test(after)) throw refuse(400, 'bad-cursor', 'after must be the `next` of a previous page');
  const kind = q.kind;
  if (kind !== undefined && !isBatchKind(kind)) throw refuse(400, 'bad-metadata', `query parameter kind must be one of ${BATCH_KINDS.join(', ')}`);
  return { from, to, limit, ...(stream !== undefined && { stream }), ...(kind !== undefined && { kind }), ...(after !== undefined && { after }) };
}
