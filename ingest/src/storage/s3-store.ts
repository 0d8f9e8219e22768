/**
 * Object storage in an S3 bucket (AWS or an S3-compatible server), with the same contract as
 * LocalObjectStore: objects are immutable, and `put` resolves false, without writing, when the key
 * already exists.
 *
 * Never replacing an object takes these guards, because S3 itself happily overwrites:
 * - `If-None-Match: *` on the PUT (conditional writes, which AWS S3, MinIO and Ceph honour): the
 *   server refuses (412) a key that exists, so of two ingest instances racing, exactly one write
 *   succeeds, and one request does it;
 * - for a server without conditional writes (`conditionalWrites: false`), HEAD first: an object
 *   that exists is never re-sent;
 * - one PUT at a time per key within this process, so concurrent uploads of the same batch answer
 *   "created" once even on a server that ignores If-None-Match (s3rver does).
 * Each PUT carries x-amz-checksum-sha256 so a body damaged in transit is refused by the server
 * instead of stored (Content-MD5 would say the same thing again, weaker, at the cost of a hash).
 *
 * Credentials come from `credentials` or the SDK's default chain (AWS_ACCESS_KEY_ID…, profiles,
 * instance roles). No message this class produces contains them.
 */
import { createHash } from 'node:crypto';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type BucketLocationConstraint,
} from '@aws-sdk/client-s3';
import { redactUrl } from '@vitalgate/protocol';
import type { ObjectStore } from './object-store.js';

/** The same key syntax as LocalObjectStore, so an object can move between the two unchanged. */
const KEY_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/;
const MAX_KEY = 512;
/** ListObjectsV2 returns at most 1000 keys a request. */
const S3_MAX_PAGE = 1000;

export interface S3ObjectStoreOptions {
  bucket: string;
  /** Prepended to every key (e.g. "vitalgate/prod/"), so one bucket can hold several deployments. */
  prefix?: string;
  /** An S3-compatible server (MinIO, Ceph, s3rver…); omitted: AWS. */
  endpoint?: string;
  /** Default us-east-1. */
  region?: string;
  /** Path-style URLs (http://host/bucket/key), which most S3-compatible servers need. */
  forcePathStyle?: boolean;
  /** Omitted: the SDK's default chain (environment, profile, instance role). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /**
   * Send `If-None-Match: *` on PUT and trust the server to refuse an existing key (default true:
   * AWS S3, MinIO and Ceph do). Turn it off for a server that rejects or ignores the header: then
   * each PUT is preceded by a HEAD, and two ingest instances racing on one key can both write (for
   * batches harmless: the key is the SHA-256 of the bytes).
   */
  conditionalWrites?: boolean;
  /** `open` creates the bucket when it does not exist (tests and development only). */
  createBucketIfMissing?: boolean;
  /** Keys per ListObjectsV2 request (default and at most 1000); smaller only to test paging. */
  pageSize?: number;
  /** A request with no answer for this long fails (default 30 s), so a stalled S3 cannot hold an upload forever. */
  requestTimeoutMs?: number;
  /** Attempts per request, including the SDK's retries of throttling and network errors (default 3). */
  maxAttempts?: number;
}

/** A failed S3 call: `code` is the S3 error code (NoSuchBucket, AccessDenied…) or the network error (ECONNREFUSED…). */
export class S3StoreError extends Error {
  constructor(message: string, readonly code: string, readonly status: number | undefined) {
    super(message);
    this.name = 'S3StoreError';
  }
}

interface SdkError {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

const statusOf = (e: unknown): number | undefined => (e as SdkError)?.$metadata?.httpStatusCode;
const codeOf = (e: unknown): string => {
  const s = e as SdkError;
  const code = String(s?.Code ?? s?.code ?? s?.name ?? 'Error');
  // An error answer to HEAD has no body, so the SDK cannot know its code: name it by its status.
  if (/^(Unknown|UnknownError|\d{3})$/.test(code)) return { 400: 'BadRequest', 403: 'AccessDenied', 404: 'NotFound' }[statusOf(e) ?? 0] ?? code;
  return code;
};
/** No such object. A missing bucket is not "no object": it must fail, not read as an empty store. */
const isMissing = (e: unknown): boolean => codeOf(e) !== 'NoSuchBucket' && (statusOf(e) === 404 || ['NoSuchKey', 'NotFound'].includes(codeOf(e)));

/** SDK and server messages should not hold secrets, but a proxy's error page might echo a signed URL or header. */
function scrub(message: string): string {
  return message
    .replace(/(credential|signature|security-token|x-amz-security-token|x-amz-credential|x-amz-signature|awsaccesskeyid|secretaccesskey|authorization)(["']?\s*[=:]\s*)[^\s,&;"'<]+/gi, '$1$2***')
    .split('\n')[0]!
    .slice(0, 160);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class S3ObjectStore implements ObjectStore {
  readonly bucket: string;
  readonly prefix: string;
  private readonly client: S3Client;
  private readonly where: string;
  private readonly conditional: boolean;
  private readonly pageSize: number;
  private readonly createBucket: boolean;
  private readonly region: string;
  /** Per key, the tail of the PUTs queued for it in this process. */
  private readonly inFlight = new Map<string, Promise<unknown>>();

  constructor(o: S3ObjectStoreOptions) {
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(o.bucket)) throw new Error(`S3 bucket name ${JSON.stringify(o.bucket.slice(0, 80))} is not valid (3–63 lowercase letters, digits, "." and "-")`);
    const prefix = o.prefix ?? '';
    if (prefix !== '' && (!prefix.endsWith('/') || !KEY_RE.test(prefix.slice(0, -1)))) throw new Error(`S3 key prefix ${JSON.stringify(prefix.slice(0, 80))} must be path segments ending with "/", e.g. "vitalgate/prod/"`);
    const pageSize = o.pageSize ?? S3_MAX_PAGE;
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > S3_MAX_PAGE) throw new Error(`S3 pageSize must be 1..${S3_MAX_PAGE}`);
    if (o.endpoint !== undefined && !/^https?:\/\//.test(o.endpoint)) throw new Error(`S3 endpoint ${redactUrl(o.endpoint)}: expected an http:// or https:// URL`);
    this.bucket = o.bucket;
    this.prefix = prefix;
    this.region = o.region ?? 'us-east-1';
    this.conditional = o.conditionalWrites ?? true;
    this.pageSize = pageSize;
    this.createBucket = o.createBucketIfMissing ?? false;
    this.where = o.endpoint ? redactUrl(o.endpoint).replace(/\/$/, '') : `aws ${this.region}`;
    this.client = new S3Client({
      region: this.region,
      ...(o.endpoint && { endpoint: o.endpoint }),
      ...(o.forcePathStyle && { forcePathStyle: true }),
      ...(o.credentials && { credentials: o.credentials }),
      maxAttempts: o.maxAttempts ?? 3,
      requestHandler: { connectionTimeout: 5_000, requestTimeout: o.requestTimeoutMs ?? 30_000 },
    });
  }

  /** A store whose bucket is known to exist and answer (see `check`). */
  static async open(o: S3ObjectStoreOptions): Promise<S3ObjectStore> {
    const store = new S3ObjectStore(o);
    try {
      await store.check();
    } catch (e) {
      store.close();
      throw e;
    }
    return store;
  }

  /**
   * Verifies the bucket exists and these credentials may use it (HeadBucket), creating it if
   * `createBucketIfMissing`. Run at startup so a wrong name or endpoint fails there, not on the
   * first upload.
   */
  async check(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
      return;
    } catch (e) {
      if (statusOf(e) !== 404 && codeOf(e) !== 'NoSuchBucket') {
        if (statusOf(e) === 403) throw this.fail('check', undefined, e, 'access denied: check the credentials and that they grant s3:ListBucket on the bucket');
        throw this.fail('check', undefined, e);
      }
      if (!this.createBucket) throw new S3StoreError(`S3 bucket ${this.bucket} does not exist at ${this.where}: create it first (ingest never creates buckets outside tests)`, 'NoSuchBucket', 404);
    }
    try {
      // us-east-1 is the one region that refuses an explicit LocationConstraint.
      const location = this.region === 'us-east-1' ? {} : { CreateBucketConfiguration: { LocationConstraint: this.region as BucketLocationConstraint } };
      await this.client.send(new CreateBucketCommand({ Bucket: this.bucket, ...location }));
    } catch (e) {
      if (!['BucketAlreadyOwnedByYou', 'BucketAlreadyExists'].includes(codeOf(e))) throw this.fail('create bucket', undefined, e);
    }
  }

  async put(key: string, bytes: Uint8Array): Promise<boolean> {
    const k = this.s3Key(key);
    // The queued tail never rejects, so each PUT waits for the one before it, whatever its outcome.
    const mine = (this.inFlight.get(k) ?? Promise.resolve()).then(() => this.putOnce(k, bytes));
    const tail = mine.catch(() => undefined);
    this.inFlight.set(k, tail);
    try {
      return await mine;
    } finally {
      if (this.inFlight.get(k) === tail) this.inFlight.delete(k);
    }
  }

  private async putOnce(k: string, bytes: Uint8Array): Promise<boolean> {
    const sha256 = createHash('sha256').update(bytes).digest('base64');
    for (let attempt = 1; ; attempt++) {
      // With conditional writes the PUT itself refuses an existing key (412): one request, not two.
      if (!this.conditional && await this.exists(k)) return false;
      try {
        await this.client.send(new PutObjectCommand({
          Bucket: this.bucket, Key: k, Body: bytes, ContentLength: bytes.length, ContentType: 'application/octet-stream',
          ChecksumSHA256: sha256,
          ...(this.conditional && { IfNoneMatch: '*' }),
        }));
        return true;
      } catch (e) {
        // Another writer created it between our HEAD and PUT.
        if (statusOf(e) === 412 || codeOf(e) === 'PreconditionFailed') return false;
        // AWS answers 409 while a concurrent conditional write to the key is in progress: look again.
        if (codeOf(e) === 'ConditionalRequestConflict' && attempt < 5) {
          await sleep(50 * attempt);
          continue;
        }
        throw this.fail('put', k, e);
      }
    }
  }

  private async exists(k: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: k }));
      return true;
    } catch (e) {
      if (isMissing(e)) return false;
      // Without s3:ListBucket, S3 answers 403 rather than 404 for a missing key.
      if (statusOf(e) === 403) throw this.fail('head', k, e, 'access denied: check the credentials and that they grant s3:GetObject and s3:ListBucket');
      throw this.fail('head', k, e);
    }
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const k = this.s3Key(key);
    try {
      // ChecksumMode makes the SDK check the body against the SHA-256 stored with the object.
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: k, ChecksumMode: 'ENABLED' }));
      if (!res.Body) throw new Error('the response has no body');
      return await res.Body.transformToByteArray();
    } catch (e) {
      if (isMissing(e)) return undefined;
      throw this.fail('get', k, e);
    }
  }

  async list(prefix: string, after: string | undefined, limit: number): Promise<string[]> {
    if (!prefix.endsWith('/')) throw new Error('a listing prefix ends with "/"');
    const full = this.s3Key(prefix.slice(0, -1)) + '/';
    const out: string[] = [];
    // Paged by StartAfter (the last key seen) rather than continuation tokens: equivalent on S3,
    // and each request stands alone, so a retried page cannot skip or repeat keys.
    let startAfter = after === undefined ? undefined : this.prefix + after;
    while (out.length < limit) {
      let page;
      try {
        page = await this.client.send(new ListObjectsV2Command({
          Bucket: this.bucket, Prefix: full, MaxKeys: Math.min(this.pageSize, limit - out.length),
          ...(startAfter !== undefined && { StartAfter: startAfter }),
        }));
      } catch (e) {
        throw this.fail('list', full, e);
      }
      const keys = (page.Contents ?? []).map((c) => c.Key).filter((x): x is string => x !== undefined);
      for (const x of keys) out.push(x.slice(this.prefix.length));
      if (!page.IsTruncated || keys.length === 0) break;
      startAfter = keys.at(-1);
    }
    return out.slice(0, limit);
  }

  describe(): string {
    return `s3 ${this.bucket}${this.prefix ? `/${this.prefix}` : ''} at ${this.where}`;
  }

  /** Closes the client's connections; the store is not used afterwards. */
  close(): void {
    this.client.destroy();
  }

  private s3Key(key: string): string {
    if (!KEY_RE.test(key) || key.length > MAX_KEY) throw new Error(`invalid object key ${JSON.stringify(key.slice(0, 80))}`);
    return this.prefix + key;
  }

  private fail(op: string, key: string | undefined, e: unknown, hint?: string): S3StoreError {
    const code = codeOf(e);
    const status = statusOf(e);
    if (code === 'CredentialsProviderError') {
      hint = 'no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run with an instance role';
    }
    // Code, bucket and endpoint first: callers keep only the first 200 characters.
    const detail = hint ?? scrub((e as SdkError)?.message ?? String(e));
    const msg = `S3 ${code}${status ? ` (HTTP ${status})` : ''} on ${op} in bucket ${this.bucket} at ${this.where}${key ? ` (${key.slice(0, 120)})` : ''}: ${detail}`;
    return new S3StoreError(msg, code, status);
  }
}
