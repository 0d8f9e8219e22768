/**
 * `vitalgate-decode`: device bytes in, readings out, with the firmware bridge's own decoders.
 * - GATT: `msg.payload` is one notification of a Bluetooth health characteristic (the node's, or
 *   `msg.characteristic`): 0x2A37 heart rate, 0x2A1C temperature, 0x2A35 blood pressure,
 *   0x2A5E/0x2A5F pulse oximetry, 0x2A18 glucose. Patient and device come from the node or from
 *   `msg.patientId` / `msg.deviceId`. GATT carries no sequence number, so the node numbers readings
 *   as the BLE source does (arrival time in ms, strictly increasing per device).
 * - UART: `msg.payload` is bytes of the firmware's serial stream (COBS frames with CRC-16, ended by
 *   0x00), in any chunks: frames may span messages. The device id is the frame's own.
 * One message per reading; bytes that do not decode go to `done(err)` (a catch node sees them).
 */
import { decodeGatt, frameToReading, gattShortUuid, gattToReadings } from '@vitalgate/firmware-bridge';
import { FrameSplitter, decodeFrame } from '@vitalgate/protocol';
import { payloadBytes, readingMessage } from '../reading-message.js';
import { prop, type Node, type NodeDef, type NodeMessage, type RedApi } from '../red.js';

export function registerDecode(RED: RedApi): void {
  RED.nodes.registerType('vitalgate-decode', function (this: Node, def: NodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const mode = prop(def, 'mode') === 'uart' ? 'uart' : 'gatt';
    const useDeviceTime = def.useDeviceTime === true || def.useDeviceTime === 'true';
    const splitter = new FrameSplitter();
    const lastSeq = new Map<string, number>();
    let readings = 0;
    let errors = 0;
    const show = (err?: string) => node.status(err
      ? { fill: 'red', shape: 'ring', text: `${readings} readings, ${errors} errors: ${err.slice(0, 40)}` }
      : { fill: 'green', shape: 'dot', text: `${readings} readings${errors ? `, ${errors} errors` : ''}` });
    const nextSeq = (deviceId: string, now: number) => {
      const seq = Math.max((lastSeq.get(deviceId) ?? -1) + 1, now);
      lastSeq.set(deviceId, seq);
      return seq;
    };

    node.on('input', (msg, send, done) => {
      const bytes = payloadBytes(msg.payload);
      if (!bytes.ok) {
        errors++;
        show(bytes.reason);
        return done(new Error(bytes.reason));
      }
      const out: NodeMessage[] = [];
      const problems: string[] = [];
      const now = Date.now();
      if (mode === 'gatt') {
        const uuid = prop(def, 'characteristic') || (typeof msg.characteristic === 'string' || typeof msg.characteristic === 'number' ? String(msg.characteristic) : '');
        const patientId = prop(def, 'patientId') || String(msg.patientId ?? '');
        const deviceId = prop(def, 'deviceId') || String(msg.deviceId ?? '');
        if (!patientId || !deviceId) problems.push('GATT needs a patient id and a device id (on the node, or msg.patientId / msg.deviceId)');
        else if (gattShortUuid(uuid) === undefined) problems.push('no GATT characteristic (on the node, or msg.characteristic)');
        else {
          const m = decodeGatt(uuid, bytes.value);
          if (!m.ok) problems.push(m.reason);
          else {
            const { readings: rs } = gattToReadings(m.value, { seq: nextSeq(deviceId, now), ts: now, useDeviceTime });
            rs.forEach((r, i) => {
              if (i > 0) r.body.seq = nextSeq(deviceId, now);
              out.push(readingMessage({ patientId, deviceId, stream: r.stream, body: r.body }));
            });
          }
        }
      } else {
        const patientId = prop(def, 'patientId') || String(msg.patientId ?? '');
        if (!patientId) problems.push('UART needs a patient id (on the node, or msg.patientId)');
        else {
          for (const raw of splitter.push(bytes.value)) {
            const f = decodeFrame(raw);
            if (!f.ok) {
              problems.push(f.reason);
              continue;
            }
            if (f.value.type !== 'waveform' && f.value.type !== 'scalar') continue;
            const r = frameToReading(f.value, useDeviceTime ? f.value.deviceTime : now);
            if (!r.ok) problems.push(r.reason);
            else out.push(readingMessage({ patientId, deviceId: f.value.deviceId, stream: r.value.stream, body: r.value.body }));
          }
        }
      }
      readings += out.length;
      for (const m of out) send({ ...m, ...(msg._msgid && { _msgid: msg._msgid }) });
      if (problems.length) {
        errors += problems.length;
        show(problems[0]);
        return done(new Error(problems.join('; ')));
      }
      show();
      done();
    });
  });
}
