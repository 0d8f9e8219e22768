/**
 * How a gateway signs its requests to ingest: the shape of RFC 9421 HTTP Message Signatures, with
 * the gateway's registered chain account as the key (EIP-191 personal_sign over the signature base,
 * so any Ethereum signer can make it and `ethers.verifyMessage` recovers the account).
 *
 *   Content-Digest:  sha-256=:<base64 SHA-256 of the body>:                      (RFC 9530)
 *   Signature-Input: sig1=("@method" "@path" "@query" "content-digest");created=<unix s>;nonce="<16-64 of A-Za-z0-9_->";keyid="<0x account>";alg="eip191-secp256k1"
 *   Signature:       sig1=:<base64 of the 65-byte signature r ‖ s ‖ v>:
 *
 * The signature base (RFC 9421 §2.5), lines joined by "\n", no trailing newline:
 *
 *   "@method": PUT
 *   "@path": /v1/batches/<id>
 *   "@query": ?patient=…&stream=…
 *   "content-digest": sha-256=:…:
 *   "@signature-params": ("@method" "@path" "@query" "content-digest");created=…;nonce="…";keyid="0x…";alg="eip191-secp256k1"
 *
 * Exactly these four components, in this order, are accepted: a verifier never has to decide which
 * parts of a request were left unsigned. The parsers return a Result and never throw.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import type { Result } from './reading.js';

export const SIGNATURE_ALG = 'eip191-secp256k1';
export const SIGNATURE_LABEL = 'sig1';
export const SIGNED_COMPONENTS = ['@method', '@path', '@query', 'content-digest'] as const;

export interface SignatureParams {
  /** Unix seconds at which the request was signed. */
  created: number;
  /** Single-use value: a verifier refuses a (keyid, nonce) it has seen. */
  nonce: string;
  /** The signer's account, 0x-prefixed hex (checked against the recovered signer). */
  keyid: string;
}

export interface SignedRequest {
  method: string;
  /** The path, without the query. */
  path: string;
  /** The query with its leading "?", or "?" when there is none (RFC 9421 §2.2.7). */
  query: string;
  contentDigest: string;
}

const NONCE_RE = /^[A-Za-z0-9_-]{16,64}$/;
const KEYID_RE = /^0x[0-9a-fA-F]{40}$/;

// btoa/atob rather than Buffer: protocol also runs in the browser.
function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function fromBase64(text: string): Uint8Array {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** The Content-Digest header value of a body. */
export function contentDigest(body: Uint8Array): string {
  return `sha-256=:${toBase64(sha256(body))}:`;
}

function paramsValue(p: SignatureParams): string {
  return `(${SIGNED_COMPONENTS.map((c) => `"${c}"`).join(' ')});created=${p.created};nonce="${p.nonce}";keyid="${p.keyid}";alg="${SIGNATURE_ALG}"`;
}

/** The string that is signed. */
export function signatureBase(r: SignedRequest, p: SignatureParams): string {
  return [
    `"@method": ${r.method.toUpperCase()}`,
    `"@path": ${r.path}`,
    `"@query": ${r.query || '?'}`,
    `"content-digest": ${r.contentDigest}`,
    `"@signature-params": ${paramsValue(p)}`,
  ].join('\n');
}

/** The Signature-Input and Signature header values for a 65-byte signature over `signatureBase`. */
export function signatureHeaders(p: SignatureParams, signature: Uint8Array): { 'signature-input': string; signature: string } {
  return { 'signature-input': `${SIGNATURE_LABEL}=${paramsValue(p)}`, signature: `${SIGNATURE_LABEL}=:${toBase64(signature)}:` };
}

const INPUT_RE = new RegExp(
  `^${SIGNATURE_LABEL}=\\(${SIGNED_COMPONENTS.map((c) => `"${c}"`).join(' ')}\\);created=(\\d{1,12});nonce="([^"]*)";keyid="([^"]*)";alg="([^"]*)"$`,
);
const SIG_RE = new RegExp(`^${SIGNATURE_LABEL}=:([A-Za-z0-9+/]{86,88}={0,2}):$`);

/** Reads the two signature headers; says what is wrong instead of throwing. */
export function parseSignatureHeaders(input: unknown, signature: unknown): Result<{ params: SignatureParams; signature: Uint8Array }> {
  if (typeof input !== 'string' || typeof signature !== 'string') return { ok: false, reason: 'missing Signature-Input or Signature header' };
  if (input.length > 512 || signature.length > 256) return { ok: false, reason: 'signature header too long' };
  const m = INPUT_RE.exec(input);
  if (!m) return { ok: false, reason: `Signature-Input must be ${SIGNATURE_LABEL}=(${SIGNED_COMPONENTS.map((c) => `"${c}"`).join(' ')});created=…;nonce="…";keyid="0x…";alg="${SIGNATURE_ALG}"` };
  const [, created, nonce, keyid, alg] = m as unknown as [string, string, string, string, string];
  if (alg !== SIGNATURE_ALG) return { ok: false, reason: `unsupported signature alg ${JSON.stringify(alg.slice(0, 40))}` };
  if (!NONCE_RE.test(nonce)) return { ok: false, reason: 'nonce must be 16-64 characters of A-Z a-z 0-9 _ -' };
  if (!KEYID_RE.test(keyid)) return { ok: false, reason: 'keyid must be a 0x-prefixed 20-byte account' };
  const s = SIG_RE.exec(signature);
  if (!s) return { ok: false, reason: `Signature must be ${SIGNATURE_LABEL}=:<base64 of 65 bytes>:` };
  let bytes: Uint8Array;
  try {
    bytes = fromBase64(s[1]!);
  } catch {
    return { ok: false, reason: 'signature is not base64' };
  }
  if (bytes.length !== 65) return { ok: false, reason: 'signature must be 65 bytes' };
  return { ok: true, value: { params: { created: Number(created), nonce, keyid }, signature: bytes } };
}
