/**
 * Stable resource ids and references: name-based UUIDs (RFC 9562 version 5), so the same readings
 * always give the same bundle, and `urn:uuid:` full URLs that references inside a collection resolve to.
 */
import { sha1 } from '@noble/hashes/legacy.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';

/** The namespace of Vitalgate's FHIR names (a fixed random UUID). */
const NAMESPACE = Uint8Array.from([0x6b, 0x1f, 0x0e, 0x52, 0x8a, 0x43, 0x4c, 0x6e, 0x9d, 0x27, 0x51, 0x3c, 0xa4, 0x90, 0x2e, 0x17]);

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function nameUuid(name: string): string {
  const n = utf8ToBytes(name);
  const buf = new Uint8Array(16 + n.length);
  buf.set(NAMESPACE);
  buf.set(n, 16);
  const h = sha1(buf);
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  let s = '';
  for (let i = 0; i < 16; i++) s += (i === 4 || i === 6 || i === 8 || i === 10 ? '-' : '') + HEX[h[i]!];
  return s;
}

export const fullUrl = (id: string): string => `urn:uuid:${id}`;

/** ms since the Unix epoch as a FHIR instant/dateTime (UTC, millisecond precision). */
export const isoMs = (ms: number): string => new Date(ms).toISOString();

/** The inverse of isoMs; throws on anything else, so a malformed bundle cannot invent a time. */
export function parseIsoMs(s: string | undefined, what: string): number {
  const t = s === undefined ? NaN : Date.parse(s);
  if (!Number.isFinite(t)) throw new Error(`${what}: not a dateTime`);
  return t;
}
