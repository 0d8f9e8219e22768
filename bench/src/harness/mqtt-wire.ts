/**
 * MQTT 3.1.1 bytes for the paced load, made once and patched in place: a device's CONNECT, and one
 * QoS 1 PUBLISH per template whose packet id, seq and ts sit at fixed offsets. Inbound, a tiny
 * stream parser for the three packets a publishing device receives (CONNACK, PUBACK, PINGRESP).
 * One MQTT.js client per device costs more CPU than the broker it is meant to measure at a few
 * thousand devices; copying and patching a hundred bytes does not.
 */
import mqttPacket from 'mqtt-packet';

/** CONNECT of a clean session; keepalive in seconds (0 = the broker never times the device out). */
export function connectPacket(clientId: string, keepalive: number): Buffer {
  return mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive });
}

export const PINGREQ = Buffer.from([0xc0, 0x00]);

/** A pre-generated QoS 1 PUBLISH whose packet id and CBOR seq/ts can be overwritten. */
export interface PublishTemplate {
  bytes: Buffer;
  idOff: number;
  seqOff: number;
  tsOff: number;
}

/**
 * `payload` is a CBOR body with a 4-byte seq at `seqOff` and an 8-byte ts at `tsOff`
 * (load.ts's makeTemplates); the offsets returned are into the whole packet.
 */
export function publishTemplate(topic: string, payload: Buffer, seqOff: number, tsOff: number): PublishTemplate {
  const bytes = mqttPacket.generate({ cmd: 'publish', qos: 1, dup: false, retain: false, topic, payload, messageId: 1 });
  // Fixed header (1 byte + 1..4 bytes of remaining length), then topic length + topic, then the id.
  const payloadOff = bytes.length - payload.length;
  const idOff = payloadOff - 2;
  if (bytes.readUInt16BE(idOff) !== 1 || !bytes.subarray(payloadOff).equals(payload)) throw new Error(`unexpected PUBLISH layout for ${topic}`);
  return { bytes, idOff, seqOff: payloadOff + seqOff, tsOff: payloadOff + tsOff };
}

/**
 * Copies the template into `dst` at `at` and writes packet id, seq and ts into the copy; returns the
 * packet's length. A copy, because a buffer handed to socket.write may still be queued when the
 * same template comes round again.
 */
export function writePublish(t: PublishTemplate, dst: Buffer, at: number, messageId: number, seq: number, ts: number): number {
  t.bytes.copy(dst, at);
  dst.writeUInt16BE(messageId, at + t.idOff);
  dst.writeUInt32BE(seq, at + t.seqOff);
  dst.writeUInt32BE(Math.floor(ts / 0x1_0000_0000), at + t.tsOff);
  dst.writeUInt32BE(ts >>> 0, at + t.tsOff + 4);
  return t.bytes.length;
}

/** One patched PUBLISH in a buffer of its own. */
export function patchPublish(t: PublishTemplate, messageId: number, seq: number, ts: number): Buffer {
  const b = Buffer.allocUnsafe(t.bytes.length);
  writePublish(t, b, 0, messageId, seq, ts);
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
