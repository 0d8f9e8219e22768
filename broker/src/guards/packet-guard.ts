/**
 * A cap on the size of MQTT packets a connection may send, checked on the fixed header, before
 * aedes buffers the packet.
 *
 * Why: aedes parses with mqtt-packet, which has no size limit: it keeps reading until the whole
 * packet (up to the protocol's 256 MiB) is in memory, and only then does anything look at it (the
 * policy's maxPayloadBytes runs in authorizePublish, after that). Any connection, before it has
 * even sent CONNECT, could make the broker hold 256 MiB; a few of them exhaust it.
 *
 * How: aedes takes bytes from the connection only through `read()` (on 'readable'). This wraps
 * that method with a small state machine that follows packet boundaries (type byte, remaining
 * length, body) without copying, and destroys the connection as soon as a header declares more
 * than the limit, or a malformed remaining length, or the first packet is not a CONNECT
 * [MQTT-3.1.0-1], or an UNSUBSCRIBE too short to hold a topic filter [MQTT-3.10.3-2] (mqtt-packet
 * parses one with none and aedes answers it with UNSUBACK). aedes then sees an ordinary
 * connection error.
 */

export interface PacketGuardOptions {
  /** Largest whole packet accepted (fixed header + remaining length), in bytes. */
  maxPacketBytes: number;
  /** Called once when a connection is cut, with the reason. */
  onReject?: (reason: string) => void;
}

interface ReadableLike {
  read(size?: number): unknown;
  destroy(error?: Error): unknown;
}

const enum State {
  Type,
  Length,
  Body,
}

/** UNSUBSCRIBE: packet id (2) + one topic filter (2-byte length + at least 1 byte). */
const UNSUBSCRIBE = 10;
const MIN_UNSUBSCRIBE_REMAINING = 5;

/** Largest remaining length the protocol allows (4 length bytes). */
const MAX_REMAINING = 268_435_455;

export function limitPacketSize<S extends ReadableLike>(stream: S, opts: PacketGuardOptions): S {
  const max = opts.maxPacketBytes;
  let state = State.Type;
  let first = true;
  let type = 0;
  let length = 0;
  let multiplier = 1;
  let lengthBytes = 0;
  let remaining = 0;
  let rejected = false;

  const reject = (reason: string): void => {
    rejected = true;
    opts.onReject?.(reason);
    stream.destroy(Object.assign(new Error(`packet rejected: ${reason}`), { code: 'VG_PACKET_REJECTED' }));
  };

  /** Follows packet boundaries through `buf`; false if the connection was cut. */
  const scan = (buf: Uint8Array): boolean => {
    let i = 0;
    while (i < buf.length) {
      if (state === State.Body) {
        const take = Math.min(remaining, buf.length - i);
        i += take;
        remaining -= take;
        if (remaining === 0) state = State.Type;
        continue;
      }
      const b = buf[i++]!;
      if (state === State.Type) {
        if (first && b >> 4 !== 1) {
          reject('first packet is not CONNECT');
          return false;
        }
        first = false;
        type = b >> 4;
        state = State.Length;
        length = 0;
        multiplier = 1;
        lengthBytes = 0;
        continue;
      }
      // State.Length: variable-length integer, 7 bits per byte, at most 4 bytes.
      length += (b & 0x7f) * multiplier;
      multiplier *= 128;
      lengthBytes++;
      if (b & 0x80) {
        if (lengthBytes === 4) {
          reject('malformed remaining length');
          return false;
        }
        continue;
      }
      // Fixed header = type byte + length bytes.
      if (length > MAX_REMAINING || 1 + lengthBytes + length > max) {
        reject(`packet of ${1 + lengthBytes + length} bytes exceeds ${max}`);
        return false;
      }
      if (type === UNSUBSCRIBE && length < MIN_UNSUBSCRIBE_REMAINING) {
        reject('UNSUBSCRIBE without a topic filter');
        return false;
      }
      remaining = length;
      state = remaining === 0 ? State.Type : State.Body;
    }
    return true;
  };

  const read = stream.read.bind(stream);
  stream.read = ((size?: number) => {
    if (rejected) return null;
    const chunk = read(size);
    if (chunk == null) return chunk;
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Uint8Array);
    return scan(bytes) ? chunk : null;
  }) as S['read'];
  return stream;
}
