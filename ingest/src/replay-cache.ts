/**
 * Nonces already used, per signer, for as long as a signature with them could still be fresh.
 * `seen` records and answers in one step, so two requests with the same nonce cannot both pass.
 * The in-memory cache serves one ingest process; instances behind one address share one in Redis.
 */
export interface ReplayCache {
  /** True when (keyid, nonce) was seen before; otherwise records it for `ttlSeconds`. */
  seen(keyid: string, nonce: string, ttlSeconds: number): Promise<boolean>;
  /** True when (keyid, nonce) was recorded and has not expired; records nothing (a revoked session's id, say). */
  has(keyid: string, nonce: string): Promise<boolean>;
}

export class MemoryReplayCache implements ReplayCache {
  private readonly entries = new Map<string, number>();
  private lastSweep = 0;

  constructor(private readonly now: () => number = Date.now) {}

  async seen(keyid: string, nonce: string, ttlSeconds: number): Promise<boolean> {
    const t = this.now();
    if (t - this.lastSweep > 10_000) this.sweep(t);
    const k = `${keyid.toLowerCase()} ${nonce}`;
    const until = this.entries.get(k);
    if (until !== undefined && until > t) return true;
    this.entries.set(k, t + ttlSeconds * 1000);
    return false;
  }

  async has(keyid: string, nonce: string): Promise<boolean> {
    const until = this.entries.get(`${keyid.toLowerCase()} ${nonce}`);
    return until !== undefined && until > this.now();
  }

  private sweep(t: number): void {
    this.lastSweep = t;
    for (const [k, until] of this.entries) if (until <= t) this.entries.delete(k);
  }

  get size(): number {
    return this.entries.size;
  }
}
