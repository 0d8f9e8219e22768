/**
 * A limit on FAILED logins per (username, remote address), checked before the policy's credential
 * check: each pair has a token bucket (default 2 failures/s, burst 5). A CONNECT whose bucket is
 * empty gets CONNACK 3 (server unavailable) at once, and nothing is hashed for it; only a login
 * that fails takes a token.
 *
 * Why per address and only failures: keyed by username alone and charged for every attempt, the
 * limit let anyone who knows a device's (or the gateway's) id lock it out with a few bad CONNECTs
 * a second. Now a flood from one address locks only that address out of that id, and the real
 * device, which logs in successfully, is never charged.
 *
 * Why: every CONNECT with a password costs a scrypt (N = 2^15, r = 8: ~150 ms of CPU here with
 * @noble/hashes, which runs on the event loop, and 32 MiB). The registry policy bounds how many
 * run at once (maxConcurrentAuth / maxPendingAuth), but not how often one client may come back.
 * A device that the policy disconnects (for exceeding its publish rate, say) and that reconnects
 * at once, or a script trying passwords for one id, keeps the hashing busy for everyone:
 * a few such reconnects per second at production cost saturate the broker's event loop, and in
 * robustness.test.ts even with the cheap test hash a tight reconnect loop took the other devices'
 * p99 latency from ~3 ms to 55-70 ms. Legitimate devices connect a few times a day.
 */
import type { Client } from 'aedes';
import type { BrokerPolicy } from '../broker.js';

/** The peer address of a client's connection (TCP, TLS, or the socket under a WebSocket). */
export function remoteAddressOf(client: Client): string {
  const c = client.conn as unknown as { remoteAddress?: string; socket?: { remoteAddress?: string }; _socket?: { remoteAddress?: string } };
  const req = (client as unknown as { req?: { socket?: { remoteAddress?: string } } }).req;
  return c.remoteAddress ?? c.socket?.remoteAddress ?? c._socket?.remoteAddress ?? req?.socket?.remoteAddress ?? 'unknown';
}

export interface ConnectLimitOptions {
  /** Failed logins per (username, remote address). Default 2/s with a burst of 5. */
  perUsername?: { perSecond: number; burst: number };
  /** Usernames tracked at most; beyond, full buckets are forgotten first. Default 10 000. */
  maxTracked?: number;
}

export interface ConnectLimitStats {
  /** CONNECTs refused because their username tried too often. */
  refused: number;
  /** Usernames with a bucket. */
  tracked: number;
}

type Authenticate = NonNullable<BrokerPolicy['authenticate']>;

/** The policy, with its authenticate hook behind the per-username attempt limit, plus connectLimitStats(). */
export function limitConnectAttempts<P extends BrokerPolicy>(policy: P, opts: ConnectLimitOptions = {}): P & { connectLimitStats(): ConnectLimitStats } {
  const rate = opts.perUsername ?? { perSecond: 2, burst: 5 };
  const maxTracked = opts.maxTracked ?? 10_000;
  const inner = policy.authenticate;
  const buckets = new Map<string, { tokens: number; at: number }>();
  let refused = 0;

  const refill = (b: { tokens: number; at: number }, now: number): number => Math.min(rate.burst, b.tokens + ((now - b.at) / 1000) * rate.perSecond);

  /** Whether the key may try now (its bucket holds a token). */
  const mayTry = (key: string): boolean => {
    const b = buckets.get(key);
    if (!b) return true;
    const now = performance.now();
    b.tokens = refill(b, now);
    b.at = now;
    return b.tokens >= 1;
  };

  /** Charges one failed login to the key. */
  const charge = (key: string): void => {
    const now = performance.now();
    let b = buckets.get(key);
    if (!b) {
      // Made-up usernames must not grow the map without bound: a full bucket carries no information.
      if (buckets.size >= maxTracked) for (const [k, v] of buckets) if (refill(v, now) >= rate.burst) buckets.delete(k);
      if (buckets.size >= maxTracked) return;
      b = { tokens: rate.burst, at: now };
      buckets.set(key, b);
    }
    b.tokens = Math.max(0, refill(b, now) - 1);
    b.at = now;
  };

  const authenticate: Authenticate = (client, username, password, done) => {
    // Certificate logins come without a username: their clientId is the identity.
    const key = `${username || client.id}\u0000${remoteAddressOf(client)}`;
    if (!mayTry(key)) {
      refused++;
      return done(Object.assign(new Error('too many failed logins, try again later'), { returnCode: 3 }) as never, false);
    }
    inner!(client, username, password, (err, ok) => {
      if (err || !ok) charge(key);
      done(err, ok);
    });
  };

  return {
    ...policy,
    ...(inner && { authenticate }),
    connectLimitStats: () => ({ refused, tracked: buckets.size }),
  };
}
