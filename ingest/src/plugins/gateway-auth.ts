/**
 * Who is calling: every gateway request is signed with the gateway's registered chain account
 * (protocol/src/request-signature.ts). This hook runs once the body is read and, before any
 * route sees the request, checks in order:
 *   1. the Content-Digest header is the SHA-256 of the body actually received;
 *   2. the signature headers are well formed, and `created` is within the allowed skew;
 *   3. the signature recovers to `keyid`;
 *   4. `keyid` is a registered, unbanned gateway on chain;
 *   5. the (keyid, nonce) pair was not used before (checked last, so a refused request does not
 *      burn the nonce of a later good one).
 * A refusal is a 400 (malformed), 401 (not authenticated) or 403 (not a gateway), with a JSON body.
 */
import type { FastifyRequest } from 'fastify';
import { getAddress, verifyMessage } from 'ethers';
import { contentDigest, parseSignatureHeaders, signatureBase } from '@vitalgate/protocol';
import { refuse } from '../errors.js';
import type { GatewayDirectory } from '../gateway-directory.js';
import type { ReplayCache } from '../replay-cache.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated gateway account (checksummed), set by the gateway-auth hook. */
    gateway?: string;
  }
}

export interface GatewayAuthOptions {
  directory: GatewayDirectory;
  replay: ReplayCache;
  /** How far `created` may be from now, either way (default 300 s). */
  maxSkewSeconds?: number;
  now?: () => number;
}

export function gatewayAuth(o: GatewayAuthOptions): (req: FastifyRequest) => Promise<void> {
  const skew = o.maxSkewSeconds ?? 300;
  const now = o.now ?? Date.now;
  return async (req) => {
    const body = req.body instanceof Uint8Array ? req.body : new Uint8Array(0);
    const digest = req.headers['content-digest'];
    if (typeof digest !== 'string') throw refuse(401, 'unsigned', 'the request has no Content-Digest header: gateway requests must be signed');
    if (digest !== contentDigest(body)) throw refuse(400, 'digest-mismatch', 'Content-Digest does not match the body received');
    const parsed = parseSignatureHeaders(req.headers['signature-input'], req.headers.signature);
    if (!parsed.ok) throw refuse(401, 'bad-signature', parsed.reason);
    const { params, signature } = parsed.value;
    const t = Math.floor(now() / 1000);
    if (Math.abs(t - params.created) > skew) throw refuse(401, 'stale-signature', `the signature was made at ${params.created}, more than ${skew} s from now (${t})`);
    const q = req.url.indexOf('?');
    const base = signatureBase({ method: req.method, path: q < 0 ? req.url : req.url.slice(0, q), query: q < 0 ? '?' : req.url.slice(q), contentDigest: digest }, params);
    let signer: string;
    try {
      signer = verifyMessage(base, `0x${Buffer.from(signature).toString('hex')}`);
    } catch {
      throw refuse(401, 'bad-signature', 'the signature does not verify');
    }
    if (signer !== getAddress(params.keyid)) throw refuse(401, 'wrong-signer', 'the signature was not made by the keyid account');
    if (!(await o.directory.isActiveGateway(signer))) throw refuse(403, 'not-a-gateway', `${signer} is not a registered, active gateway`);
    if (await o.replay.seen(signer, params.nonce, 2 * skew)) throw refuse(401, 'replayed', 'this nonce was already used: a signed request is accepted once');
    req.gateway = signer;
  };
}
