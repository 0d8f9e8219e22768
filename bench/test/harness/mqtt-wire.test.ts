import assert from 'node:assert/strict';
import mqttPacket from 'mqtt-packet';
import { decodePayload, readingTopic } from '@vitalgate/protocol';
import { makeTemplates, SEQ_BASE } from '../../src/harness/load.js';
import { connectPacket, InboundParser, patchPublish, publishLength, topicField, writePublish } from '../../src/harness/mqtt-wire.js';

function decodeAll(buf: Buffer): mqttPacket.Packet[] {
  const out: mqttPacket.Packet[] = [];
  const p = mqttPacket.parser({ protocolVersion: 4 });
  p.on('packet', (x: mqttPacket.Packet) => out.push(x));
  p.on('error', (e: Error) => {
    throw e;
  });
  p.parse(buf);
  return out;
}

function collect() {
  const got: string[] = [];
  const parser = new InboundParser({
    connack: (rc) => got.push(`connack ${rc}`),
    puback: (id) => got.push(`puback ${id}`),
    pingresp: () => got.push('pingresp'),
    other: (t) => got.push(`other ${t}`),
  });
  return { got, parser };
}

const puback = (id: number) => mqttPacket.generate({ cmd: 'puback', messageId: id });

describe('bench', () => {
  describe('MQTT wire (paced load)', () => {
    const start = Date.UTC(2025, 0, 1);
    const templates = makeTemplates(start);

    it('a patched PUBLISH decodes to its topic, packet id and payload, and the payload to its seq and ts', () => {
      // A long topic (remaining length over 127: two bytes) and every stream of the mixed profile.
      for (const [patient, device] of [['patient-0001', 'sim-0001'], ['patient-' + 'x'.repeat(150), 'sim-' + 'y'.repeat(40)]] as const) {
        for (const t of [...new Map(templates.map((x) => [x.stream, x])).values()]) {
          const topic = readingTopic(patient, device, t.stream);
          const tf = topicField(topic);
          const ts = Date.now() + 12_345;
          for (const [id, seq] of [[1, SEQ_BASE], [64, SEQ_BASE + 99_999], [65_535, SEQ_BASE + 0xfffff]] as const) {
            const bytes = patchPublish(tf, t, id, seq, ts);
            assert.equal(bytes.length, publishLength(tf, t));
            const [pkt] = decodeAll(bytes);
            assert.ok(pkt && pkt.cmd === 'publish');
            assert.equal(pkt.topic, topic);
            assert.equal(pkt.messageId, id);
            assert.equal(pkt.qos, 1);
            assert.equal(pkt.dup, false);
            assert.equal(pkt.retain, false);
            const d = decodePayload(t.stream, pkt.payload as Buffer);
            assert.ok(d.ok, d.ok ? '' : d.reason);
            assert.equal(d.value.body.seq, seq);
            assert.equal(d.value.body.ts, ts);
            // Byte for byte what mqtt-packet itself would send.
            assert.ok(bytes.equals(mqttPacket.generate({ cmd: 'publish', qos: 1, dup: false, retain: false, topic, messageId: id, payload: pkt.payload })));
          }
        }
      }
    });

    it('writes several patched packets back to back into one buffer without touching the templates', () => {
      const tf = topicField(readingTopic('p', 'd', 'ecg'));
      const bodies = templates.slice(0, 5);
      const before = bodies.map((b) => Buffer.from(b.bytes));
      const buf = Buffer.alloc(10_000);
      let len = 0;
      bodies.forEach((b, i) => (len += writePublish(tf, b, buf, len, i + 1, SEQ_BASE + i, start + i)));
      const pkts = decodeAll(buf.subarray(0, len)) as mqttPacket.IPublishPacket[];
      assert.deepEqual(pkts.map((p) => p.messageId), [1, 2, 3, 4, 5]);
      pkts.forEach((p, i) => {
        const d = decodePayload(bodies[i]!.stream, p.payload as Buffer);
        assert.ok(d.ok && d.value.body.seq === SEQ_BASE + i && d.value.body.ts === start + i);
      });
      bodies.forEach((b, i) => assert.ok(b.bytes.equals(before[i]!), 'template unchanged'));
    });

    it('CONNECT is a clean MQTT 3.1.1 session with the client id', () => {
      const [c] = decodeAll(connectPacket('sim-0042', 60));
      assert.ok(c && c.cmd === 'connect');
      assert.equal(c.clientId, 'sim-0042');
      assert.equal(c.clean, true);
      assert.equal(c.keepalive, 60);
      assert.equal(c.protocolVersion, 4);
    });

    it('parses several PUBACKs in one chunk', () => {
      const { got, parser } = collect();
      parser.push(Buffer.concat([mqttPacket.generate({ cmd: 'connack', returnCode: 0, sessionPresent: false }), puback(1), puback(2), puback(65_535), Buffer.from([0xd0, 0x00])]));
      assert.deepEqual(got, ['connack 0', 'puback 1', 'puback 2', 'puback 65535', 'pingresp']);
    });

    it('parses packets split across chunks at every byte', () => {
      const stream = Buffer.concat([puback(7), puback(300), mqttPacket.generate({ cmd: 'connack', returnCode: 5, sessionPresent: false }), puback(9)]);
      for (let cut = 1; cut < stream.length; cut++) {
        const { got, parser } = collect();
        parser.push(stream.subarray(0, cut));
        parser.push(stream.subarray(cut));
        assert.deepEqual(got, ['puback 7', 'puback 300', 'connack 5', 'puback 9'], `cut at ${cut}`);
      }
      const { got, parser } = collect();
      for (const b of stream) parser.push(Buffer.from([b]));
      assert.deepEqual(got, ['puback 7', 'puback 300', 'connack 5', 'puback 9'], 'one byte at a time');
    });

    it('skips packets it does not expect, with multi-byte lengths, and reports them', () => {
      const { got, parser } = collect();
      const pub = mqttPacket.generate({ cmd: 'publish', qos: 0, dup: false, retain: false, topic: 't', payload: Buffer.alloc(500) });
      parser.push(Buffer.concat([pub.subarray(0, 3)]));
      parser.push(Buffer.concat([pub.subarray(3), puback(4)]));
      assert.deepEqual(got, ['other 3', 'puback 4']);
    });
  });
});
