/**
 * Sign-In with Ethereum (EIP-4361) for clinicians. The message is parsed by the `siwe` package
 * (its ABNF parser); the checks are ours, each refusal naming its reason:
 *
 * GET  /v1/auth/nonce     {"nonce", "expiresAt", "chainId"}: a one-time nonce for the message
 * POST /v1/auth/signin    {"message", "signature"} → {"token", "address", "expiresAt"} and the session cookie
 *   400 malformed; 401 wrong-domain, wrong-uri, wrong-chain, stale-message (issued-at in the future or
 *   older than a nonce lives), expired, not-yet-valid, bad-signature, unknown-nonce, nonce-used;
 *   403 not-a-clinician, banned; 503 chain-unavailable
 * POST /v1/auth/signout   ends the session (every instance refuses it from then on); by the cookie
 *                         alone, only from this origin (403 cross-site)
 * GET  /v1/auth/session   {"address", "expiresAt"} of the session the request carries
 */
import type { FastifyInstance } from 'fastify';
import { getAddress, verifyMessage } from 'ethers';
import { SiweMessage } from 'siwe';
import { backing, refuse } from '../errors.js';
import type { SessionKeys } from './session.js';

export interface SiweOptions {
  /** The host (and port) clinicians sign in at, as the message's domain: e.g. "care.example.org". */
  domain: string;
  /** The origin of the sign-in page, as the message's URI: e.g. "https://care.example.org". */
  origin: string;
  /** The chain the Registry is on (EIP-155 id). */
  chainId: number;
}

export interface SigninRouteOptions extends SiweOptions {
  sessions: SessionKeys;
  registry: { isClinician(a: string): Promise<boolean>; isBanned(a: string): Promise<boolean>; warm?(clinician: string): void };
  now?: () => number;
}

/** How far a message's issued-at may run ahead of our clock. */
const CLOCK_SKEW_MS = 60_000;

export async function signinRoutes(app: FastifyInstance, o: SigninRouteOptions): Promise<void> {
  const now = o.now ?? Date.now;
  // Read per request: a service listening on port 0 learns its own origin only once it listens.
  const originOf = (): string => new URL(o.origin).origin;

  app.get('/v1/auth/nonce', async (_req, reply) => {
    void reply.header('cache-control', 'no-store');
    // The chain id is public and saves a client asking the chain which one the service checks.
    return { ...o.sessions.issueNonce(), chainId: o.chainId };
  });

  app.post<{ Body: { message?: unknown; signature?: unknown } }>('/v1/auth/signin', async (req, reply) => {
    const { message, signature } = (req.body ?? {}) as { message?: unknown; signature?: unknown };
    if (typeof message !== 'string' || typeof signature !== 'string' || message.length > 4096 || signature.length > 200) {
      throw refuse(400, 'malformed', 'the body must be JSON {"message": the EIP-4361 text, "signature": its 0x signature}');
    }
    let m: SiweMessage;
    try {
      m = new SiweMessage(message);
    } catch (e) {
      throw refuse(400, 'malformed', `not an EIP-4361 message: ${String((e as Error).message ?? e).split('\n')[0]!.slice(0, 160)}`);
    }
    if (m.domain !== o.domain) throw refuse(401, 'wrong-domain', `the message is for ${JSON.stringify(m.domain.slice(0, 80))}, not ${o.domain}`);
    let uriOrigin: string;
    try {
      uriOrigin = new URL(m.uri).origin;
    } catch {
      uriOrigin = '';
    }
    const origin = originOf();
    if (uriOrigin !== origin) throw refuse(401, 'wrong-uri', `the message's URI is not on ${origin}`);
    if (m.chainId !== o.chainId) throw refuse(401, 'wrong-chain', `the message is for chain ${m.chainId}, not ${o.chainId}`);
    const t = now();
    const issued = m.issuedAt ? Date.parse(m.issuedAt) : NaN;
    if (!Number.isFinite(issued) || issued > t + CLOCK_SKEW_MS || issued < t - o.sessions.nonceSeconds * 1000) {
      throw refuse(401, 'stale-message', 'the message\'s issued-at is missing, in the future, or older than a nonce lives: sign a fresh one');
    }
    if (m.expirationTime && Date.parse(m.expirationTime) <= t) throw refuse(401, 'expired', 'the message has expired');
    if (m.notBefore && Date.parse(m.notBefore) > t) throw refuse(401, 'not-yet-valid', 'the message is not valid yet (not-before)');
    let signer: string;
    try {
      signer = verifyMessage(message, signature);
    } catch {
      throw refuse(401, 'bad-signature', 'the signature is malformed');
    }
    const address = getAddress(m.address);
    if (signer !== address) throw refuse(401, 'bad-signature', 'the signature is not the message address\'s');
    await o.sessions.consumeNonce(m.nonce);
    const [isClinician, banned] = await backing('chain', () => Promise.all([o.registry.isClinician(address), o.registry.isBanned(address)]));
    if (banned) throw refuse(403, 'banned', `${address} is banned by the Registry`);
    if (!isClinician) throw refuse(403, 'not-a-clinician', `${address} is not a registered clinician`);
    const { token, session } = o.sessions.issueSession(address);
    // The page asks for every patient's latest values next: their access is asked of the chain now.
    o.registry.warm?.(address);
    void reply.header('set-cookie', o.sessions.cookie(token, o.sessions.sessionSeconds)).header('cache-control', 'no-store');
    req.log.info({ clinician: address }, 'clinician signed in');
    return { token, address, expiresAt: session.expiresAt };
  });

  const pre = { preHandler: o.sessions.requireClinician(originOf) };
  app.post('/v1/auth/signout', pre, async (req, reply) => {
    await o.sessions.revoke(req.clinicianSession!);
    void reply.header('set-cookie', o.sessions.cookie('', 0));
    return { signedOut: true };
  });
  app.get('/v1/auth/session', pre, async (req) => ({ address: req.clinician, expiresAt: req.clinicianSession!.expiresAt }));
}
