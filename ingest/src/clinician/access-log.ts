/**
 * Every decision the clinician API makes, allow or deny, as one immutable object in object storage
 * before the answer goes out: who asked, for which patient, stream and time range, what was
 * decided and why, and whether break-glass was the reason it was allowed. Metadata only, never a
 * reading. Ingest instances share nothing but storage, so each entry is its own object, named so
 * that a listing is in time order: access-log/{YYYY-MM-DD}/{ts, 13 digits}-{request id}.
 */
import type { ObjectStore } from '../storage/object-store.js';

export interface AccessLogEntry {
  v: 1;
  /** Decision time, ms since the Unix epoch. */
  ts: number;
  requestId: string;
  clinician: string;
  /** Patient account, when the request named one. */
  patient?: string;
  stream?: string;
  from?: number;
  to?: number;
  /** What was asked: the route pattern (e.g. "GET /v1/clinician/batches/:patient/:id"). */
  route: string;
  decision: 'allow' | 'deny';
  /** For an allow: grant, care-team or break-glass; for a deny: the refusal's code. */
  reason: string;
  breakGlass: boolean;
}

export interface AccessLog {
  append(e: AccessLogEntry): Promise<void>;
}

export const accessLogKey = (e: Pick<AccessLogEntry, 'ts' | 'requestId'>): string =>
  `access-log/${new Date(e.ts).toISOString().slice(0, 10)}/${String(e.ts).padStart(13, '0')}-${e.requestId}`;

export class StoredAccessLog implements AccessLog {
  constructor(private readonly store: ObjectStore) {}

  async append(e: AccessLogEntry): Promise<void> {
    await this.store.put(accessLogKey(e), new TextEncoder().encode(JSON.stringify(e)));
  }
}
