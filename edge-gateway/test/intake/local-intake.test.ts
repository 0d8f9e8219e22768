/**
 * The gateway taking readings from a broker in its own process (intake/local-intake.ts with the
 * broker's local-delivery.ts): a device's PUBACK only once its reading is durable, in order; a
 * reconnect resends what was not acknowledged and it is sealed once; a full window slows the device
 * down instead of buffering; topics that are not readings, and refused publishes, take the
 * broker's usual path.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type Packet } from 'mqtt';
import { encodeBody, readingTopic, type ReadingBody } from '@vitalgate/protocol';
import { startBroker, type RunningBroker } from '@vitalgate/broker';
import { Gateway, type BatchRecord } from '../../src/index.js';
import { memoryLogger, sealedSeqs, TEST_SCRYPT, tempDir } from '../helpers.js';

const PASS = 'local intake test passphrase';
const T0 = Date.UTC(2026, 11, 4, 9);
const hr = (seq: number): ReadingBody => ({ seq, ts: T0 + seq * 1000, values: { hr: 60 + (seq % 40) } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function indexedSeqs(dataDir: string): Set<number> {
  let text = '';
  try {
    text = readFileSync(join(dataDir, 'index.jsonl'), 'utf8');
  } catch { /* nothing indexed yet */ }
  const out = new Set<number>();
  for (const l of text.split('\n').filter(Boolean)) {
    const r = JSON.parse(l) as BatchRecord;
    for (const [a, b] of r.readingSeqs ?? []) for (let s = a; s <= b; s++) out.add(s);
  }
  return out;
}

async function setup(o: { batchWindowMs: number; maxUnacked?: number; deny?: string; pubackCoalesceMs?: number }): Promise<{ gw: Gateway; broker: RunningBroker; dir: string; cleanup: () => Promise<void> }> {
  const t = await tempDir();
  const gw = await Gateway.start({ dataDir: t.dir, passphrase: PASS, scrypt: TEST_SCRYPT, logger: memoryLogger().logger, batchWindowMs: o.batchWindowMs });
  const local = gw.openLocalIntake(o.maxUnacked);
  const broker = await startBroker({
    port: 0,
    localDelivery: { consumer: local, accepts: (topic) => local.accepts(topic), ...(o.pubackCoalesceMs !== undefined && { pubackCoalesceMs: o.pubackCoalesceMs }) },
    ...(o.deny && { policy: { authorizePublish: (_c, p, cb) => cb(p.topic.includes(o.deny!) ? new Error('denied') : null) } }),
  });
  return {
    gw, broker, dir: t.dir,
    cleanup: async () => {
      await gw.stop().catch(() => undefined);
      await broker.close();
      await t.cleanup();
    },
  };
}

describe('gateway with the broker in its process (--serve-mqtt)', function () {
  this.timeout(30_000);

  it('sends a device its PUBACK only once the reading is in the index, in publish order', async () => {
    const s = await setup({ batchWindowMs: 800 });
    try {
      const dev = await mqtt.connectAsync(s.broker.url, { clientId: 'dev-local' });
      const acks: Array<{ id: number; at: number; indexed: Set<number> }> = [];
      const ids = new Map<number, number>();
      dev.on('packetreceive', (p: Packet) => {
        if (p.cmd === 'puback') acks.push({ id: p.messageId!, at: Date.now(), indexed: indexedSeqs(s.dir) });
      });
      dev.on('packetsend', (p: Packet) => {
        if (p.cmd === 'publish' && p.messageId !== undefined) ids.set(p.messageId, ids.size);
      });
      const sentAt = Date.now();
      // All 30 in flight at once: a device must not have to wait a batch window per reading.
      await Promise.all(Array.from({ length: 30 }, (_, i) => dev.publishAsync(readingTopic('p-local', 'dev-local', 'hr'), Buffer.from(encodeBody(hr(i), 'cbor')), { qos: 1 })));
      const took = Date.now() - sentAt;
      await dev.endAsync();
      assert.equal(acks.length, 30);
      assert.ok(took < 800 * 3, `30 readings in flight together took ${took} ms: one batch window, not one per reading`);
      assert.ok(acks[0]!.at - sentAt >= 700, `first PUBACK ${acks[0]!.at - sentAt} ms after publishing, before the 800 ms window closed`);
      assert.deepEqual(acks.map((a) => ids.get(a.id)), Array.from({ length: 30 }, (_, i) => i), 'PUBACKs in publish order');
      for (const [k, a] of acks.entries()) assert.ok(a.indexed.has(ids.get(a.id)!), `PUBACK #${k} arrived before its reading was indexed`);
      const m = s.gw.metrics().mqtt!;
      assert.deepEqual({ acked: m.acked, unacked: m.unacked, dropped: m.acksDropped }, { acked: 30, unacked: 0, dropped: 0 });
      assert.equal(s.broker.stats().messagesIn, 30);
      await s.gw.stop();
      assert.deepEqual(await sealedSeqs(s.dir, PASS), Array.from({ length: 30 }, (_, i) => i));
      const stage = s.gw.stageLatency().receiveToDurableMs;
      assert.equal(stage.count, 30);
      assert.ok(stage.p50! >= 700 && stage.max! < 5000, JSON.stringify(stage));
    } finally {
      await s.cleanup();
    }
  });

  it('PUBACKs share a write while the device still waits for others; the last one it waits for goes at once; closing the broker sends those held', async () => {
    const s = await setup({ batchWindowMs: 1500, pubackCoalesceMs: 60_000 });
    const dev = await mqtt.connectAsync(s.broker.url, { clientId: 'dev-coalesce', reconnectPeriod: 0 });
    try {
      const writes: number[] = [];
      for (const c of Object.values((s.broker.aedes as unknown as { clients: Record<string, { conn: { write(b: Buffer): boolean } }> }).clients)) {
        const write = c.conn.write.bind(c.conn);
        c.conn.write = (b: Buffer) => {
          if (b[0] === 0x40) writes.push(b.length);
          return write(b);
        };
      }
      const acked: number[] = [];
      dev.on('packetreceive', (p: Packet) => {
        if (p.cmd === 'puback') acked.push(p.messageId!);
      });
      const sent: number[] = [];
      dev.on('packetsend', (p: Packet) => {
        if (p.cmd === 'publish' && p.messageId !== undefined) sent.push(p.messageId);
      });
      const closed = new Promise<void>((r) => dev.once('close', () => r()));
      const until = async (what: () => boolean) => {
        for (const end = Date.now() + 10_000; !what() && Date.now() < end;) await sleep(10);
        assert.ok(what(), 'timed out');
      };
      // Two streams, so two batches whose windows close 600 ms apart.
      const publish = async (seq: number) => {
        const stream = seq % 2 ? 'hr' : 'spo2';
        const body = seq % 2 ? hr(seq) : { seq, ts: T0 + seq * 1000, values: { spo2: 97 } };
        dev.publishAsync(readingTopic('p-co', 'dev-coalesce', stream), Buffer.from(encodeBody(body, 'cbor')), { qos: 1 }).catch(() => undefined);
        await until(() => s.gw.metrics().messagesReceived >= seq);
      };
      const released = (n: number) => until(() => s.gw.metrics().mqtt!.acked >= n);

      await publish(1);
      await sleep(600);
      await publish(2);
      await released(1);
      await sleep(150);
      assert.deepEqual(acked, [], 'a PUBACK went out while the device still waited for another');
      await released(2);
      await until(() => acked.length === 2);
      assert.deepEqual(acked, sent.slice(0, 2), 'in order');
      assert.deepEqual(writes, [8], 'in one write, once the device waited for nothing else');

      await publish(3);
      await sleep(600);
      await publish(4);
      await released(3);
      await sleep(150);
      assert.equal(acked.length, 2);
      await s.broker.close();
      await closed;
      assert.deepEqual(acked, sent.slice(0, 3), 'the held PUBACK, before the connection closed');
      assert.deepEqual(writes, [8, 4]);
    } finally {
      dev.end(true);
      await s.cleanup();
    }
  });

  it('a device that drops its connection before the PUBACKs sends again; every reading is sealed once', async () => {
    const s = await setup({ batchWindowMs: 1500 });
    try {
      const raw = await mqtt.connectAsync(s.broker.url, { clientId: 'dev-drop', clean: false, reconnectPeriod: 0 });
      for (let i = 0; i < 20; i++) raw.publish(readingTopic('p-drop', 'dev-drop', 'hr'), Buffer.from(encodeBody(hr(i), 'cbor')), { qos: 1 });
      await sleep(300);
      raw.stream.destroy();
      await raw.endAsync(true);
      // Their tickets belong to the dead connection: released, but dropped, not written anywhere.
      for (const end = Date.now() + 5000; s.gw.metrics().mqtt!.acksDropped < 20 && Date.now() < end;) await sleep(50);
      assert.equal(s.gw.metrics().mqtt!.acksDropped, 20);
      const again = await mqtt.connectAsync(s.broker.url, { clientId: 'dev-drop' });
      await Promise.all(Array.from({ length: 25 }, (_, i) => again.publishAsync(readingTopic('p-drop', 'dev-drop', 'hr'), Buffer.from(encodeBody(hr(i), 'cbor')), { qos: 1 })));
      await again.endAsync();
      assert.equal(s.gw.metrics().duplicates, 20);
      await s.gw.stop();
      assert.deepEqual(await sealedSeqs(s.dir, PASS), Array.from({ length: 25 }, (_, i) => i));
    } finally {
      await s.cleanup();
    }
  });

  it('a full window seals early and holds the device back (slower PUBACKs), losing nothing', async () => {
    const s = await setup({ batchWindowMs: 60_000, maxUnacked: 40 });
    try {
      const dev = await mqtt.connectAsync(s.broker.url, { clientId: 'dev-full' });
      const N = 400;
      await Promise.all(Array.from({ length: N }, (_, i) => dev.publishAsync(readingTopic('p-full', 'dev-full', 'hr'), Buffer.from(encodeBody(hr(i), 'cbor')), { qos: 1 })));
      await dev.endAsync();
      const m = s.gw.metrics().mqtt!;
      // With a 60 s batch window nothing would be durable (or acknowledged) before stop without the
      // early seals a full window asks for.
      assert.ok(m.windowFull > 0, JSON.stringify(m));
      assert.equal(m.acked, N);
      assert.ok(s.gw.metrics().batchesSealed >= 2, `only ${s.gw.metrics().batchesSealed} batches`);
      await s.gw.stop();
      assert.deepEqual(await sealedSeqs(s.dir, PASS), Array.from({ length: N }, (_, i) => i));
    } finally {
      await s.cleanup();
    }
  });

  it('commands to devices still go through the broker; a refused publish never reaches the gateway', async () => {
    const s = await setup({ batchWindowMs: 300, deny: 'p-denied' });
    try {
      const sub = await mqtt.connectAsync(s.broker.url, { clientId: 'listener' });
      await sub.subscribeAsync('vg/v1/+/+/cmd', { qos: 1 });
      const got = new Promise<string>((r) => sub.once('message', (_t, p) => r(p.toString())));
      const dev = await mqtt.connectAsync(s.broker.url, { clientId: 'commander' });
      await dev.publishAsync('vg/v1/p-1/dev-1/cmd', 'rotate', { qos: 1 });
      assert.equal(await got, 'rotate');
      await dev.endAsync();
      assert.equal(s.gw.metrics().messagesReceived, 0, 'a command is not a reading');
      const bad = await mqtt.connectAsync(s.broker.url, { clientId: 'bad', reconnectPeriod: 0 });
      const closed = new Promise<void>((r) => bad.once('close', () => r()));
      bad.publish(readingTopic('p-denied', 'dev-x', 'hr'), Buffer.from(encodeBody(hr(1), 'cbor')), { qos: 1 });
      await closed;
      await bad.endAsync(true);
      await sub.endAsync();
      assert.equal(s.gw.metrics().messagesReceived, 0, 'the refused reading never reached the gateway');
    } finally {
      await s.cleanup();
    }
  });
});
