/**
 * Key envelope, format v1: one epoch data key DK(patient, stream, epoch), encrypted to one grantee's
 * registered secp256k1 public key (Registry.encryptionKeyOf) by ECIES. Every integer is big-endian.
 *
 *   off  size  field
 *   0    4     magic "VGKE"
 *   4    1     format version = 1
 *   5    33    E = ephemeral public key, compressed secp256k1: fresh per envelope, or shared by
 *                 the envelopes one sender seals to one recipient within a window (EnvelopeSealer)
 *   38   24    XChaCha20-Poly1305 nonce, random
 *   62   48    ciphertext of DK (32) ‖ Poly1305 tag (16)
 *   = 110 bytes
 *
 *   Z    = x-coordinate of ECDH(e, R)             (32 bytes; e the ephemeral secret, R the recipient)
 *   K    = HKDF-SHA256(ikm = Z, salt = E ‖ R, info = "vitalgate/v1/envelope", L = 32)
 *            R compressed (33 bytes): binding both public keys stops a key-substitution attack.
 *   AAD  = bytes 0..62 (magic, version, E, nonce) ‖ epochKeyInfo(patient, stream, epoch)
 *            so an envelope for one (patient, stream, epoch) cannot be passed off as another's.
 *
 * Only the grantee's secret key opens it; the cloud stores envelopes and learns nothing from them.
 * Parsers and openers never throw: every failure is a reason.
 *
 * Why E may be shared: K depends only on (e, R), so envelopes sharing E share K, and each is then one
 * more XChaCha20-Poly1305 message under K with its own random 192-bit nonce and its own
 * (patient, stream, epoch) in the AAD: safe for far more messages than a window holds (capped at
 * SHARED_EPHEMERAL_MAX_USES). It reveals nothing new to the cloud, which already knows each
 * envelope's recipient from where it is stored. It saves the recipient an ECDH per envelope: a week of
 * one patient's 15-minute epochs is 1344 envelopes per stream; opened with EnvelopeOpener, sharing E
 * makes that about one ECDH per day instead of one each.
 */
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, randomBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { epochKeyInfo } from './epoch-keys.js';
import { fail, ok, type Result } from './reading.js';
import type { StreamName } from './streams.js';

export const ENVELOPE_MAGIC = new Uint8Array([0x56, 0x47, 0x4b, 0x45]); // "VGKE"
export const ENVELOPE_VERSION = 1;
export const ENVELOPE_INFO_LABEL = 'vitalgate/v1/envelope';
export const ENVELOPE_BYTES = 110;
const EPH_OFF = 5;
const NONCE_OFF = 38;
const CT_OFF = 62;
const DK_BYTES = 32;

/** Which epoch key an envelope holds: the envelope cannot be opened under any other. */
export interface EnvelopeContext {
  patientId: string;
  stream: StreamName;
  epoch: number;
}

export interface ParsedEnvelope {
  version: number;
  ephemeralPublicKey: Uint8Array;
  nonce: Uint8Array;
  ciphertext: Uint8Array;
}

/** Fixed inputs, only for reproducing test vectors: in use both are random per envelope. */
export interface EnvelopeDeterminism {
  ephemeralSecretKey?: Uint8Array;
  nonce?: Uint8Array;
}

/**
 * A registered encryption key as a compressed secp256k1 point, or a reason: the Registry also
 * accepts 32-byte X25519 keys, which this envelope version cannot address.
 */
export function envelopeRecipientKey(key: Uint8Array): Result<Uint8Array> {
  if (key.length === 32) return fail('a 32-byte (X25519) encryption key cannot receive a v1 envelope: register a secp256k1 key (33 or 65 bytes)');
  if (key.length !== 33 && key.length !== 65) return fail(`an encryption key is 33 or 65 bytes (secp256k1), not ${key.length}`);
  try {
    return ok(secp256k1.Point.fromBytes(key).toBytes(true));
  } catch {
    return fail('the encryption key is not a point on secp256k1');
  }
}

/** The compressed public key that goes into Registry.registerClinician for this secret key. */
export function envelopePublicKey(secretKey: Uint8Array): Uint8Array {
  return secp256k1.getPublicKey(secretKey, true);
}

export function randomEnvelopeSecretKey(): Uint8Array {
  return secp256k1.utils.randomSecretKey();
}

function wrappingKey(sharedPoint: Uint8Array, eph: Uint8Array, recipient: Uint8Array): Uint8Array {
  return hkdf(sha256, sharedPoint.subarray(1, 33), concatBytes(eph, recipient), utf8ToBytes(ENVELOPE_INFO_LABEL), 32);
}

/** E and K for one (ephemeral secret, recipient): what sealing needs, and all a shared E keeps. */
interface Wrap { eph: Uint8Array; key: Uint8Array }

function newWrap(recipient: Uint8Array, ephemeralSecretKey?: Uint8Array): Wrap {
  const e = ephemeralSecretKey ?? secp256k1.utils.randomSecretKey();
  const eph = secp256k1.getPublicKey(e, true);
  const key = wrappingKey(secp256k1.getSharedSecret(e, recipient, true), eph, recipient);
  if (!ephemeralSecretKey) e.fill(0);
  return { eph, key };
}

function sealUnder(w: Wrap, dk: Uint8Array, ctx: EnvelopeContext, nonce: Uint8Array = randomBytes(24)): Uint8Array {
  if (dk.length !== DK_BYTES) throw new RangeError(`an epoch key is ${DK_BYTES} bytes, not ${dk.length}`);
  if (nonce.length !== 24) throw new RangeError('an envelope nonce is 24 bytes');
  const info = epochKeyInfo(ctx.patientId, ctx.stream, ctx.epoch);
  const head = concatBytes(ENVELOPE_MAGIC, Uint8Array.of(ENVELOPE_VERSION), w.eph, nonce);
  return concatBytes(head, xchacha20poly1305(w.key, nonce, concatBytes(head, info)).encrypt(dk));
}

/** Encrypts `dk` to `recipientKey` (33 or 65 bytes), under a fresh E. Throws only on a caller's error: a bad key or DK. */
export function sealEnvelope(recipientKey: Uint8Array, dk: Uint8Array, ctx: EnvelopeContext, fixed: EnvelopeDeterminism = {}): Uint8Array {
  if (dk.length !== DK_BYTES) throw new RangeError(`an epoch key is ${DK_BYTES} bytes, not ${dk.length}`);
  const r = envelopeRecipientKey(recipientKey);
  if (!r.ok) throw new Error(r.reason);
  const w = newWrap(r.value, fixed.ephemeralSecretKey);
  try {
    return sealUnder(w, dk, ctx, fixed.nonce);
  } finally {
    w.key.fill(0);
  }
}

/** Most envelopes sealed under one shared E (then a new one): far below XChaCha20's random-nonce bound. */
export const SHARED_EPHEMERAL_MAX_USES = 1 << 20;
/** How long a sender keeps one E per recipient, by default: a week of history opens with about 7 ECDHs. */
export const SHARED_EPHEMERAL_DEFAULT_MS = 24 * 3_600_000;

/**
 * Seals envelopes with one E per recipient for a window (`windowMs`, and at most
 * SHARED_EPHEMERAL_MAX_USES envelopes), then a fresh one. Keeps K and E, never e. Throws only on a
 * caller's error, as sealEnvelope.
 */
export class EnvelopeSealer {
  private readonly wraps = new Map<string, Wrap & { since: number; uses: number }>();

  constructor(private readonly o: { windowMs?: number; now?: () => number } = {}) {}

  seal(recipientKey: Uint8Array, dk: Uint8Array, ctx: EnvelopeContext): Uint8Array {
    if (dk.length !== DK_BYTES) throw new RangeError(`an epoch key is ${DK_BYTES} bytes, not ${dk.length}`);
    const r = envelopeRecipientKey(recipientKey);
    if (!r.ok) throw new Error(r.reason);
    const now = (this.o.now ?? Date.now)();
    const id = bytesToHex(r.value);
    let w = this.wraps.get(id);
    if (!w || now - w.since >= (this.o.windowMs ?? SHARED_EPHEMERAL_DEFAULT_MS) || now < w.since || w.uses >= SHARED_EPHEMERAL_MAX_USES) {
      w?.key.fill(0);
      w = { ...newWrap(r.value), since: now, uses: 0 };
      this.wraps.set(id, w);
    }
    w.uses++;
    return sealUnder(w, dk, ctx);
  }

  /** Forgets every kept K (zeroed): the next envelope to each recipient gets a fresh E. */
  clear(): void {
    for (const w of this.wraps.values()) w.key.fill(0);
    this.wraps.clear();
  }
}

/** The fields, by layout alone: E not yet checked to be a point. */
function envelopeLayout(bytes: Uint8Array): Result<ParsedEnvelope> {
  if (!(bytes instanceof Uint8Array)) return fail('an envelope is bytes');
  if (bytes.length !== ENVELOPE_BYTES) return fail(`an envelope is ${ENVELOPE_BYTES} bytes, not ${bytes.length}`);
  for (let i = 0; i < 4; i++) if (bytes[i] !== ENVELOPE_MAGIC[i]) return fail('not a key envelope (magic is not "VGKE")');
  if (bytes[4] !== ENVELOPE_VERSION) return fail(`envelope format version ${bytes[4]} is not supported (this reader knows ${ENVELOPE_VERSION})`);
  return ok({ version: ENVELOPE_VERSION, ephemeralPublicKey: bytes.subarray(EPH_OFF, NONCE_OFF), nonce: bytes.subarray(NONCE_OFF, CT_OFF), ciphertext: bytes.subarray(CT_OFF) });
}

export function parseEnvelope(bytes: Uint8Array): Result<ParsedEnvelope> {
  const p = envelopeLayout(bytes);
  if (p.ok && !secp256k1.utils.isValidPublicKey(p.value.ephemeralPublicKey, true)) return fail('the envelope\'s ephemeral key is not a point on secp256k1');
  return p;
}

/**
 * The epoch key inside, for the holder of `secretKey`, or why not. Never throws. `recipientPublicKey`
 * is envelopePublicKey(secretKey), for a caller opening many: computed here otherwise (an elliptic-
 * curve multiplication, a quarter of the opening). A wrong one only makes the envelope not open.
 */
export function openEnvelope(secretKey: Uint8Array, bytes: Uint8Array, ctx: EnvelopeContext, recipientPublicKey?: Uint8Array): Result<Uint8Array> {
  const p = parseEnvelope(bytes);
  if (!p.ok) return p;
  let info: Uint8Array;
  try {
    info = epochKeyInfo(ctx.patientId, ctx.stream, ctx.epoch);
  } catch (e) {
    return fail(`bad envelope context: ${(e as Error).message}`);
  }
  let key: Uint8Array;
  try {
    if (!secp256k1.utils.isValidSecretKey(secretKey)) return fail('not a secp256k1 secret key');
    const recipient = recipientPublicKey ?? secp256k1.getPublicKey(secretKey, true);
    key = wrappingKey(secp256k1.getSharedSecret(secretKey, p.value.ephemeralPublicKey, true), p.value.ephemeralPublicKey, recipient);
  } catch {
    return fail('not a secp256k1 secret key');
  }
  try {
    return ok(xchacha20poly1305(key, p.value.nonce, concatBytes(bytes.subarray(0, CT_OFF), info)).decrypt(p.value.ciphertext));
  } catch {
    return fail('the envelope does not open with this key for this patient, stream and epoch (another recipient, another epoch key, or tampered)');
  } finally {
    key.fill(0);
  }
}

/** Most wrapping keys an EnvelopeOpener keeps (each 32 bytes, by its E). */
const OPENER_CACHE = 4096;

/**
 * Opens envelopes for one secret key, keeping K for each E it has opened one with: envelopes that
 * share E (EnvelopeSealer) cost one ECDH together instead of one each. Never throws.
 */
export class EnvelopeOpener {
  private readonly keys = new Map<string, Uint8Array>();
  private readonly recipient: Uint8Array | undefined;
  private ecdhs = 0;

  constructor(private readonly secretKey: Uint8Array) {
    try {
      this.recipient = secp256k1.utils.isValidSecretKey(secretKey) ? secp256k1.getPublicKey(secretKey, true) : undefined;
    } catch {
      this.recipient = undefined;
    }
  }

  open(bytes: Uint8Array, ctx: EnvelopeContext): Result<Uint8Array> {
    if (!this.recipient) return fail('not a secp256k1 secret key');
    // An E already opened with was a point then: checking it again (a square root) is skipped.
    const l = envelopeLayout(bytes);
    const p = l.ok && this.keys.has(bytesToHex(l.value.ephemeralPublicKey)) ? l : parseEnvelope(bytes);
    if (!p.ok) return p;
    let info: Uint8Array;
    try {
      info = epochKeyInfo(ctx.patientId, ctx.stream, ctx.epoch);
    } catch (e) {
      return fail(`bad envelope context: ${(e as Error).message}`);
    }
    const id = bytesToHex(p.value.ephemeralPublicKey);
    let key = this.keys.get(id);
    if (!key) {
      try {
        key = wrappingKey(secp256k1.getSharedSecret(this.secretKey, p.value.ephemeralPublicKey, true), p.value.ephemeralPublicKey, this.recipient);
      } catch {
        return fail('the envelope\'s ephemeral key is not usable');
      }
      this.ecdhs++;
      if (this.keys.size >= OPENER_CACHE) this.keys.delete(this.keys.keys().next().value!);
      this.keys.set(id, key);
    }
    try {
      return ok(xchacha20poly1305(key, p.value.nonce, concatBytes(bytes.subarray(0, CT_OFF), info)).decrypt(p.value.ciphertext));
    } catch {
      return fail('the envelope does not open with this key for this patient, stream and epoch (another recipient, another epoch key, or tampered)');
    }
  }

  /** How many ECDHs this opener has done (every other envelope it opened reused a kept K). */
  get ecdhCount(): number {
    return this.ecdhs;
  }
}
