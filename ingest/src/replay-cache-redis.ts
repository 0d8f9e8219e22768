/**
 * The replay cache shared by several ingest instances behind one address: a nonce accepted by one
 * instance must be refused by every other, so the record lives in Redis.
 *
 * One command, `SET key 1 PX ttl NX`, both records and answers: Redis runs it atomically, so two
 * instances racing with the same (keyid, nonce) cannot both see "not set". OK means the nonce is
 * new; nil means it was there.
 *
 * Fail closed: when Redis cannot answer, nobody knows whether the nonce was used, and treating
 * "unknown" as "unseen" would let a captured request be replayed during any Redis outage. So
 * `seen` throws a 503 'replay-cache-unavailable' instead: nothing is accepted, and the gateway's
 * spool retries (with a fresh signature) until Redis is back. To make that answer quick rather than
 * hang a request, commands are never queued while disconnected and time out after a short while.
 */
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { redactUrl } from '@vitalgate/protocol';
import { refuse } from './errors.js';
import type { ReplayCache } from './replay-cache.js';

export const DEFAULT_REPLAY_KEY_PREFIX = 'vitalgate:ingest:nonce:';
/** Long enough for a loaded Redis across a data centre, short enough that a hung one costs a request at most this. */
export const DEFAULT_REPLAY_COMMAND_TIMEOUT_MS = 1000;

export interface RedisReplayCacheOptions {
  /** Prefix of every key (default `vitalgate:ingest:nonce:`), so the Redis can be shared with other uses. */
  keyPrefix?: string;
  /** How long one SET may take before the request gets a 503 (default 1000 ms). */
  commandTimeoutMs?: number;
  /** How long a (re)connection attempt may take (default 5000 ms). */
  connectTimeoutMs?: number;
  /** Where outages and recoveries are reported (once each, not per request). The URL is always redacted. */
  logger?: Logger;
}

export class RedisReplayCache implements ReplayCache {
  /**
   * The connection, with the fail-fast settings above. It can also carry ingest's shared rate
   * counters (IngestOptions.rateRedis), so one Redis connection serves both.
   */
  readonly redis: Redis;
  readonly keyPrefix: string;
  /** The URL with any password or secret query value replaced by ***: safe to log and print. */
  readonly displayUrl: string;
  private readonly log: Logger | undefined;
  /** True from the first failure until Redis answers again: each outage is logged once. */
  private down = false;
  private closed = false;
  /** The latest connection error, for waitReady's message. */
  private lastError: string | undefined;

  constructor(url: string, o: RedisReplayCacheOptions = {}) {
    this.displayUrl = redactUrl(url);
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new Error(`the replay cache's Redis must be a redis:// or rediss:// URL, got ${this.displayUrl}`);
    }
    if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Error(`the replay cache's Redis must be a redis:// or rediss:// URL, got ${this.displayUrl}`);
    this.keyPrefix = o.keyPrefix ?? DEFAULT_REPLAY_KEY_PREFIX;
    this.log = o.logger;
    const commandTimeout = o.commandTimeoutMs ?? DEFAULT_REPLAY_COMMAND_TIMEOUT_MS;
    this.redis = new Redis(url, {
      // A command issued while disconnected fails at once instead of waiting in a queue that
      // could hold requests (and their sockets) for as long as the outage lasts.
      enableOfflineQueue: false,
      // A command in flight when the connection drops fails instead of being retried later...
      maxRetriesPerRequest: 0,
      // ...and is not re-sent after reconnecting: its request has already had its 503.
      autoResendUnfulfilledCommands: false,
      commandTimeout,
      connectTimeout: o.connectTimeoutMs ?? 5000,
      // Keep reconnecting for as long as the process runs, at most 1 s apart, so ingest recovers
      // on its own soon after Redis is back.
      retryStrategy: (attempt) => Math.min(attempt * 100, 1000),
    });
    // Without a listener ioredis prints every failed reconnect to the console; report state
    // changes through the logger instead.
    this.redis.on('error', (e: Error) => this.unavailable(e));
    this.redis.on('ready', () => this.available());
  }

  async seen(keyid: string, nonce: string, ttlSeconds: number): Promise<boolean> {
    const key = `${this.keyPrefix}${keyid.toLowerCase()}:${nonce}`;
    // PX with at least 1 ms: a zero or fractional TTL would be a Redis error, not "expire soon".
    const ttlMs = Math.max(1, Math.ceil(ttlSeconds * 1000));
    let reply: string | null;
    try {
      reply = await this.redis.set(key, '1', 'PX', ttlMs, 'NX');
    } catch (e) {
      this.unavailable(e as Error);
      throw refuse(503, 'replay-cache-unavailable', `the replay cache (Redis) could not be reached (${reason(e as Error)}), so the nonce could not be checked and nothing was accepted; retry`);
    }
    this.available();
    return reply === null;
  }

  async has(keyid: string, nonce: string): Promise<boolean> {
    try {
      const n = await this.redis.exists(`${this.keyPrefix}${keyid.toLowerCase()}:${nonce}`);
      this.available();
      return n === 1;
    } catch (e) {
      this.unavailable(e as Error);
      throw refuse(503, 'replay-cache-unavailable', `the replay cache (Redis) could not be reached (${reason(e as Error)}); retry`);
    }
  }

  /**
   * Resolves once Redis is connected and answers PING, waiting up to `timeoutMs` for the first
   * connection (a fresh cache is still connecting, and commands are not queued meanwhile). Throws,
   * with the URL redacted, when it does not: for a startup check that names the problem.
   */
  async waitReady(timeoutMs = 5000): Promise<void> {
    if (this.closed) throw new Error(`the replay cache's Redis connection to ${this.displayUrl} was closed`);
    if (this.redis.status !== 'ready') {
      await new Promise<void>((resolve, reject) => {
        const done = (err?: Error): void => {
          clearTimeout(timer);
          this.redis.off('ready', onReady);
          this.redis.off('end', onEnd);
          if (err) reject(err); else resolve();
        };
        const onReady = (): void => done();
        const onEnd = (): void => done(new Error(`the replay cache's Redis connection to ${this.displayUrl} was closed`));
        const timer = setTimeout(() => done(new Error(`the replay cache's Redis at ${this.displayUrl} did not accept a connection within ${timeoutMs} ms${this.lastError ? ` (${this.lastError})` : ''}`)), timeoutMs);
        this.redis.on('ready', onReady);
        this.redis.on('end', onEnd);
      });
    }
    try {
      await this.redis.ping();
    } catch (e) {
      throw new Error(`the replay cache's Redis at ${this.displayUrl} does not answer: ${firstLine(e as Error)}`);
    }
  }

  /** Closes the connection (QUIT when connected, else at once) and stops reconnecting. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.redis.status === 'ready') {
      try {
        await this.redis.quit();
        return;
      } catch {
        // Went away meanwhile: fall through and drop the socket.
      }
    }
    this.redis.disconnect();
  }

  private unavailable(e: Error): void {
    this.lastError = firstLine(e);
    if (this.down || this.closed) return;
    this.down = true;
    // ioredis messages name host:port at most, never the password; the URL shown is redacted.
    this.log?.warn({ redis: this.displayUrl, err: firstLine(e) }, 'replay cache unavailable: requests are refused with 503 until Redis answers again');
  }

  private available(): void {
    if (!this.down) return;
    this.down = false;
    this.log?.info({ redis: this.displayUrl }, 'replay cache reachable again');
  }
}

const firstLine = (e: Error): string => String(e?.message ?? e).split('\n')[0]!.slice(0, 200);

/**
 * What the gateway is told: the kind of failure, not ioredis's own words (which name internal
 * hosts and option names that mean nothing to a gateway operator).
 */
function reason(e: Error): string {
  const m = firstLine(e);
  if (/timed out/i.test(m)) return 'no answer in time';
  if (/writeable|closed|ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENOTFOUND|ETIMEDOUT|max retries|MaxRetriesPerRequest/i.test(m) || e?.name === 'MaxRetriesPerRequestError') return 'no connection';
  return 'Redis error';
}
