/**
 * Clinician sessions without server state, so any ingest instance can check any session: sign-in
 * nonces and session tokens are MACed (HMAC-SHA-256) under a secret the instances share, and what
 * must be remembered (a nonce used, a session signed out) goes into the shared replay cache.
 *
 *   nonce  = expiry (12 hex, ms) ‖ 16 random bytes (32 hex) ‖ MAC("nonce" ‖ the rest) (32 hex)
 *            alphanumeric, as EIP-4361 wants; used once (replay cache), until its expiry
 *   token  = base64url(JSON {v, sub: address, sid, iat, exp}) "." base64url(MAC("session" ‖ payload))
 *            sent back as an HttpOnly, Secure, SameSite=Strict cookie and in the body (for a bearer);
 *            a request by the cookie alone must come from the service's origin (crossSiteRefusal)
 *
 * MACs are compared in constant time. The secret never leaves this module; nothing here is logged.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { refuse } from '../errors.js';
import type { ReplayCache } from '../replay-cache.js';

export const SESSION_COOKIE = 'vg_session';
export const DEFAULT_SESSION_SECONDS = 15 * 60;
export const DEFAULT_NONCE_SECONDS = 5 * 60;

export interface Session { address: string; sid: string; issuedAt: number; expiresAt: number }

declare module 'fastify' {
  interface FastifyRequest {
    /** The signed-in clinician's address (checksummed), set by `requireClinician`. */
    clinician?: string;
    clinicianSession?: Session;
  }
}

const b64u = (b: Buffer | string) => Buffer.from(b).toString('base64url');

export class SessionKeys {
  private readonly secret: Buffer;

  constructor(secret: Uint8Array, private readonly replay: ReplayCache, readonly sessionSeconds = DEFAULT_SESSION_SECONDS, readonly nonceSeconds = DEFAULT_NONCE_SECONDS, private readonly now: () => number = Date.now) {
    if (secret.length < 32) throw new Error('the session secret must be at least 32 bytes');
    this.secret = Buffer.from(secret);
  }

  private mac(label: string, data: string): Buffer {
    return createHmac('sha256', this.secret).update(label).update('\0').update(data).digest();
  }

  private same(a: Buffer, b: Buffer): boolean {
    return a.length === b.length && timingSafeEqual(a, b);
  }

  issueNonce(): { nonce: string; expiresAt: number } {
    const expiresAt = this.now() + this.nonceSeconds * 1000;
    const body = expiresAt.toString(16).padStart(12, '0') + randomBytes(16).toString('hex');
    return { nonce: body + this.mac('nonce', body).subarray(0, 16).toString('hex'), expiresAt };
  }

  /** Checks a nonce this service issued and marks it used; the refusal names why. */
  async consumeNonce(nonce: string): Promise<void> {
    if (!/^[0-9a-f]{76}$/.test(nonce)) throw refuse(401, 'unknown-nonce', 'the message\'s nonce was not issued by this service (GET /v1/auth/nonce)');
    const body = nonce.slice(0, 44);
    if (!this.same(Buffer.from(nonce.slice(44), 'hex'), this.mac('nonce', body).subarray(0, 16))) throw refuse(401, 'unknown-nonce', 'the message\'s nonce was not issued by this service (GET /v1/auth/nonce)');
    const expiresAt = parseInt(body.slice(0, 12), 16);
    if (expiresAt <= this.now()) throw refuse(401, 'expired', 'the nonce has expired: ask for a new one');
    if (await this.replay.seen('siwe-nonce', nonce, Math.ceil((expiresAt - this.now()) / 1000) + 1)) throw refuse(401, 'nonce-used', 'this nonce was already used to sign in: ask for a new one');
  }

  issueSession(address: string): { token: string; session: Session } {
    const issuedAt = this.now();
    const session: Session = { address, sid: randomBytes(12).toString('hex'), issuedAt, expiresAt: issuedAt + this.sessionSeconds * 1000 };
    const payload = b64u(JSON.stringify({ v: 1, sub: address, sid: session.sid, iat: issuedAt, exp: session.expiresAt }));
    return { token: `${payload}.${b64u(this.mac('session', payload))}`, session };
  }

  /** The session a token carries, or the refusal (401) naming why. */
  async check(token: string): Promise<Session> {
    const [payload, mac, extra] = token.split('.');
    if (!payload || !mac || extra !== undefined || !this.same(Buffer.from(mac, 'base64url'), this.mac('session', payload))) {
      throw refuse(401, 'bad-session', 'the session token is not one this service issued');
    }
    let p: { v?: unknown; sub?: unknown; sid?: unknown; iat?: unknown; exp?: unknown };
    try {
      p = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as typeof p;
    } catch {
      throw refuse(401, 'bad-session', 'the session token is not one this service issued');
    }
    if (p.v !== 1 || typeof p.sub !== 'string' || typeof p.sid !== 'string' || typeof p.iat !== 'number' || typeof p.exp !== 'number') throw refuse(401, 'bad-session', 'the session token is not one this service issued');
    if (p.exp <= this.now()) throw refuse(401, 'session-expired', 'the session has expired: sign in again');
    if (await this.replay.has('siwe-signed-out', p.sid)) throw refuse(401, 'signed-out', 'this session was signed out: sign in again');
    return { address: p.sub, sid: p.sid, issuedAt: p.iat, expiresAt: p.exp };
  }

  async revoke(s: Session): Promise<void> {
    await this.replay.seen('siwe-signed-out', s.sid, Math.max(1, Math.ceil((s.expiresAt - this.now()) / 1000)));
  }

  /** The token of a request: `Authorization: Bearer …`, else the session cookie. */
  static tokenOf(req: FastifyRequest): string | undefined {
    const auth = req.headers.authorization;
    if (typeof auth === 'string' && auth.startsWith('Bearer ')) return auth.slice(7).trim();
    const cookie = req.headers.cookie;
    if (typeof cookie !== 'string') return undefined;
    for (const part of cookie.split(';')) {
      const [k, ...v] = part.trim().split('=');
      if (k === SESSION_COOKIE) return v.join('=');
    }
    return undefined;
  }

  cookie(token: string, maxAgeSeconds: number): string {
    return `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=${maxAgeSeconds}`;
  }

  /**
   * A preHandler: the request must carry a live session; sets req.clinician. A request carried by
   * the cookie alone must come from `origin` (crossSiteRefusal).
   */
  requireClinician(origin: () => string): (req: FastifyRequest, reply: FastifyReply) => Promise<void> {
    return async (req) => {
      const token = SessionKeys.tokenOf(req);
      if (!token) throw refuse(401, 'no-session', 'sign in first (POST /v1/auth/signin), then send the session cookie or Authorization: Bearer');
      const csrf = crossSiteRefusal(req, origin());
      if (csrf) throw refuse(403, 'cross-site', csrf);
      const s = await this.check(token);
      req.clinician = s.address;
      req.clinicianSession = s;
    };
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Why a request is refused as a possible cross-site request forgery, or undefined. Only a request
 * authenticated by the cookie is at risk: a browser attaches the cookie by itself, while a bearer
 * token is sent only by script that holds it (same origin: the service answers no CORS preflight).
 * SameSite=Strict already keeps the cookie off other sites' requests; this also refuses a sibling
 * site's (same site, another origin) and a browser that ignores SameSite.
 *
 * - A browser that sends Fetch Metadata must say Sec-Fetch-Site "same-origin", for any method:
 *   a GET of the clinician API is not harmless either (it writes the access log in the
 *   clinician's name). "none" (typed into the address bar, a bookmark) is let through for reads.
 * - From a browser without Fetch Metadata, a state-changing method must carry an Origin that is
 *   `origin` (scheme, host and port; the Host header is the client's word, not the service's).
 */
export function crossSiteRefusal(req: FastifyRequest, origin: string): string | undefined {
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && auth.startsWith('Bearer ')) return undefined;
  const safe = SAFE_METHODS.has(req.method);
  const site = req.headers['sec-fetch-site'];
  if (typeof site === 'string') {
    if (site === 'same-origin' || (safe && site === 'none')) return undefined;
    return `a ${req.method} by the session cookie from another origin (Sec-Fetch-Site: ${site.slice(0, 20)}) is refused: send Authorization: Bearer`;
  }
  if (safe) return undefined;
  const from = req.headers.origin;
  let sent: string | undefined;
  try {
    sent = typeof from === 'string' ? new URL(from).origin : undefined;
  } catch {
    sent = undefined;
  }
  if (sent !== undefined && sent === new URL(origin).origin) return undefined;
  return `a ${req.method} by the session cookie must come from ${new URL(origin).origin} (an Origin header naming it): send Authorization: Bearer`;
}
