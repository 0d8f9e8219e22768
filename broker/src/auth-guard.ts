/**
 * A per-username limit on CONNECT attempts, checked before the policy's credential check: each
 * username (known or not; the clientId when there is none) has a token bucket (default 2 attempts/s, burst 5); an attempt without a
 * token gets CONNACK 3 (server unavailable) at once, and nothing is hashed for it.
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
import type { BrokerPolicy } from './broker.js';

export interface ConnectLimitOptions {
  /** CONNECT attempts per username. Default 2/s with a burst of 5. */
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

  /** Takes one attempt from the username's bucket. */
  const attempt = (username: string): boolean => {
    const now = performance.now();
    let b = buckets.get(username);
    if (!b) {
      // Made-up usernames must not grow the map without bound: a full bucket carries no information.
      if (buckets.size >= maxTracked) for (const [k, v] of buckets) if (refill(v, now) >= rate.burst) buckets.delete(k);
      if (buckets.size >= maxTracked) return false; // all of them busy: a flood of distinct names
      b = { tokens: rate.burst, at: now };
      buckets.set(username, b);
    }
    b.tokens = refill(b, now);
    b.at = now;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  };

  const authenticate: Authenticate = (client, username, password, done) => {
    // Certificate logins come without a username: their clientId is the identity.
    if (!attempt(username || client.id)) {
      refused++;
      return done(Object.assign(new Error('too many connection attempts, try again later'), { returnCode: 3 }) as never, false);
    }
    inner!(client, username, password, done);
  };

  return {
    ...policy,
    ...(inner && { authenticate }),
    connectLimitStats: () => ({ refused, tracked: buckets.size }),
  };
}
