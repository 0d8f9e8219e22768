/**
 * MQTT 3.1.1 bytes for the paced load: a device's CONNECT, and QoS 1 PUBLISH packets put together
 * from a per-device topic and a shared pre-encoded body, with packet id, seq and ts written at fixed
 * offsets. Inbound, a tiny stream parser for the three packets a publishing device receives
 * (CONNACK, PUBACK, PINGRESP). One MQTT.js client per device costs more CPU than the broker it is
 * meant to measure at a few thousand devices; copying and patching a hundred bytes does not.
 */
import mqttPacket from 'mqtt-packet';

/** CONNECT of a clean session; keepalive in seconds (0 = the broker never times the device out). */
export function connectPacket(clientId: string, keepalive: number): Buffer {
  return mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive });
}

export const PINGREQ = Buffer.from([0xc0, 0x00]);

/** A CBOR body with a 4-byte seq at `seqOff` and an 8-byte ts at `tsOff` (load.ts's makeTemplates). */
export interface BodyTemplate {
  bytes: Buffer;
  seqOff: number;
  tsOff: number;
}

/**
 * A PUBLISH's topic as it goes on the wire (2-byte length, UTF-8), made once per device and stream:
 * with it and a shared body template a packet is three copies and four integer writes, so thousands
 * of devices need no packet of their own per template.
 */
export function topicField(topic: string): Buffer {
  const t = Buffer.from(topic, 'utf8');
  if (t.length > 0xffff) throw new Error('topic too long');
  const b = Buffer.allocUnsafe(2 + t.length);
  b.writeUInt16BE(t.length, 0);
  t.copy(b, 2);
  return b;
}

/** Bytes of the QoS 1 PUBLISH of `body` on `topic` (a topicField). */
export function publishLength(topic: Buffer, body: BodyTemplate): number {
  const rem = topic.length + 2 + body.bytes.length;
  return 1 + (rem < 128 ? 1 : rem < 16_384 ? 2 : 3) + rem;
}

/**
 * Writes a QoS 1 PUBLISH (MQTT 3.1.1, no dup, no retain) of `body` with packet id, seq and ts patched
 * in, into `dst` at `at`; returns its length. The templates themselves are never written to: a buffer
 * handed to socket.write may still be queued when the same template comes round again.
 */
export function writePublish(topic: Buffer, body: BodyTemplate, dst: Buffer, at: number, messageId: number, seq: number, ts: number): number {
  let i = at;
  dst[i++] = 0x32;
  let rem = topic.length + 2 + body.bytes.length;
  do {
    let d = rem % 128;
    rem = Math.floor(rem / 128);
    if (rem > 0) d |= 0x80;
    dst[i++] = d;
  } while (rem > 0);
  i += topic.copy(dst, i);
  dst.writeUInt16BE(messageId, i);
  i += 2;
  const p = i;
  i += body.bytes.copy(dst, i);
  dst.writeUInt32BE(seq, p + body.seqOff);
  dst.writeUInt32BE(Math.floor(ts / 0x1_0000_0000), p + body.tsOff);
  dst.writeUInt32BE(ts >>> 0, p + body.tsOff + 4);
  return i - at;
}

/** One patched PUBLISH in a buffer of its own. */
export function patchPublish(topic: Buffer, body: BodyTemplate, messageId: number, seq: number, ts: number): Buffer {
  const b = Buffer.allocUnsafe(publishLength(topic, body));
  writePublish(topic, body, b, 0, messageId, seq, ts);
  return b;
}

export interface InboundHandlers {
  connack(returnCode: number): void;
  puback(messageId: number): void;
  pingresp(): void;
  /** Any other packet type (a device subscribed to nothing should never get one). */
  other(type: number): void;
}

/**
 * Parses the broker → device stream. Packets may be split across chunks or several may share one;
 * only an incomplete tail is kept between chunks.
 */
export class InboundParser {
  private rest: Buffer | undefined;

  constructor(private readonly h: InboundHandlers) {}

  push(chunk: Buffer): void {
    const buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    this.rest = undefined;
    let at = 0;
    while (at < buf.length) {
      // Remaining length: 1-4 bytes, 7 bits each, high bit = more.
      let len = 0;
      let mul = 1;
      let i = at + 1;
      let complete = false;
      for (let k = 0; k < 4 && i < buf.length; k++, i++) {
        const d = buf[i]!;
        len += (d & 0x7f) * mul;
        mul *= 128;
        if ((d & 0x80) === 0) {
          complete = true;
          i++;
          break;
        }
      }
      if (!complete || i + len > buf.length) break;
      const type = buf[at]! >> 4;
      if (type === 4 && len >= 2) this.h.puback(buf.readUInt16BE(i));
      else if (type === 2 && len >= 2) this.h.connack(buf[i + 1]!);
      else if (type === 13) this.h.pingresp();
      else this.h.other(type);
      at = i + len;
    }
    if (at < buf.length) this.rest = Buffer.from(buf.subarray(at));
  }
}
