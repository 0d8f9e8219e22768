/**
 * Key envelope, format v1: one epoch data key DK(patient, stream, epoch), encrypted to one grantee's
 * registered secp256k1 public key (Registry.encryptionKeyOf) by ECIES. Every integer is big-endian.
 *
 *   off  size  field
 *   0    4     magic "VGKE"
 *   4    1     format version = 1
 *   5    33    E = ephemeral public key, compressed secp256k1, fresh per envelope
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
 */
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, randomBytes, utf8ToBytes } from '@noble/hashes/utils.js';
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

/** Encrypts `dk` to `recipientKey` (33 or 65 bytes). Throws only on a caller's error: a bad key or DK. */
export function sealEnvelope(recipientKey: Uint8Array, dk: Uint8Array, ctx: EnvelopeContext, fixed: EnvelopeDeterminism = {}): Uint8Array {
  if (dk.length !== DK_BYTES) throw new RangeError(`an epoch key is ${DK_BYTES} bytes, not ${dk.length}`);
  const r = envelopeRecipientKey(recipientKey);
  if (!r.ok) throw new Error(r.reason);
  const info = epochKeyInfo(ctx.patientId, ctx.stream, ctx.epoch);
  const e = fixed.ephemeralSecretKey ?? secp256k1.utils.randomSecretKey();
  const nonce = fixed.nonce ?? randomBytes(24);
  if (nonce.length !== 24) throw new RangeError('an envelope nonce is 24 bytes');
  const eph = secp256k1.getPublicKey(e, true);
  const key = wrappingKey(secp256k1.getSharedSecret(e, r.value, true), eph, r.value);
  const head = concatBytes(ENVELOPE_MAGIC, Uint8Array.of(ENVELOPE_VERSION), eph, nonce);
  const ct = xchacha20poly1305(key, nonce, concatBytes(head, info)).encrypt(dk);
  key.fill(0);
  if (!fixed.ephemeralSecretKey) e.fill(0);
  return concatBytes(head, ct);
}

export function parseEnvelope(bytes: Uint8Array): Result<ParsedEnvelope> {
  if (!(bytes instanceof Uint8Array)) return fail('an envelope is bytes');
  if (bytes.length !== ENVELOPE_BYTES) return fail(`an envelope is ${ENVELOPE_BYTES} bytes, not ${bytes.length}`);
  for (let i = 0; i < 4; i++) if (bytes[i] !== ENVELOPE_MAGIC[i]) return fail('not a key envelope (magic is not "VGKE")');
  if (bytes[4] !== ENVELOPE_VERSION) return fail(`envelope format version ${bytes[4]} is not supported (this reader knows ${ENVELOPE_VERSION})`);
  const ephemeralPublicKey = bytes.subarray(EPH_OFF, NONCE_OFF);
  if (!secp256k1.utils.isValidPublicKey(ephemeralPublicKey, true)) return fail('the envelope\'s ephemeral key is not a point on secp256k1');
  return ok({ version: ENVELOPE_VERSION, ephemeralPublicKey, nonce: bytes.subarray(NONCE_OFF, CT_OFF), ciphertext: bytes.subarray(CT_OFF) });
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
