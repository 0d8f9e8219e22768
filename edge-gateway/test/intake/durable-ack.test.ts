import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { cp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import mqtt from 'mqtt';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { encodeBody, readingTopic, type ReadingBody } from '@vitalgate/protocol';
import { startBroker } from '@vitalgate/broker';
import { Gateway, type BatchRecord } from '../../src/index.js';
import { memoryLogger, sealedSeqs, TEST_SCRYPT, tempDir } from '../helpers.js';

const PASS = 'durable ack test passphrase';
const T0 = Date.UTC(2026, 10, 21, 12);
const hr = (seq: number): ReadingBody => ({ seq, ts: T0 + seq * 1000, values: { hr: 60 + (seq % 40) } });

function indexed(dataDir: string): BatchRecord[] {
  return readFileSync(join(dataDir, 'index.jsonl'), 'utf8').split('\n').filter(Boolean).flatMap((l) => {
    try { return [JSON.parse(l) as BatchRecord]; } catch { return []; }
  });
}

describe('gateway acknowledges only what is durable', function () {
  this.timeout(30_000);

  it('sends a QoS 1 PUBACK only after the batch holding the reading is in the index, in arrival order', async () => {
    const t = await tempDir();
    const broker = await startBroker({ port: 0 });
    const acks: Array<{ messageId: number; at: number; indexedSeqs: Set<number> }> = [];
    try {
      const gw = await Gateway.start({ dataDir: t.dir, passphrase: PASS, scrypt: TEST_SCRYPT, logger: memoryLogger().logger, brokerUrl: broker.url, clientId: 'gw-ack', batchWindowMs: 800 });
      broker.aedes.on('ack', (packet, client) => {
        if (client?.id !== 'gw-ack' || !packet || !('messageId' in packet)) return;
        // Read the index at the moment the broker sees the PUBACK: the reading must already be in it.
        const seqs = new Set(indexed(t.dir).flatMap((r) => (r.readingSeqs ?? []).flatMap(([a, b]) => Array.from({ length: b - a + 1 }, (_, k) => a + k))));
        acks.push({ messageId: packet.messageId as number, at: Date.now(), indexedSeqs: seqs });
      });
      const dev = await mqtt.connectAsync(broker.url, { clientId: 'dev-ack' });
      const sentAt = Date.now();
      for (let i = 0; i < 30; i++) await dev.publishAsync(readingTopic('p-ack', 'dev-ack', 'hr'), Buffer.from(encodeBody(hr(i), 'json')), { qos: 1 });
      await dev.endAsync();
      const deadline = Date.now() + 10_000;
      while (acks.length < 30 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.equal(acks.length, 30, 'every reading is acknowledged once durable');
      assert.ok(acks[0]!.at - sentAt >= 700, `first PUBACK came ${acks[0]!.at - sentAt} ms after publishing, before the 800 ms batch window closed`);
      for (const [k, a] of acks.entries()) {
        for (let s = 0; s <= k; s++) assert.ok(a.indexedSeqs.has(s), `PUBACK #${k} sent while reading ${s} was not yet indexed`);
      }
      const m = gw.metrics().mqtt!;
      assert.equal(m.ackPolicy, 'durable');
      assert.equal(m.acked, 30);
      assert.equal(m.unacked, 0);
      await gw.stop();
      assert.deepEqual(await sealedSeqs(t.dir, PASS), Array.from({ length: 30 }, (_, i) => i));
    } finally {
      await broker.close();
      await t.cleanup();
    }
  });

  it('a resumed session\'s queued readings that come in the same read as the CONNACK are taken in, not acknowledged unseen', async () => {
    // A broker resuming a session writes CONNACK and the queued PUBLISHes back to back; here one
    // raw TCP peer writes them in a single chunk, the tightest case. MQTT.js's default handler
    // would acknowledge what arrives before the gateway's own handler is installed.
    const t = await tempDir();
    const N = 50;
    const pubacks: Array<{ id: number; at: number }> = [];
    const server = createServer((sock) => {
      const parser = mqttPacket.parser({ protocolVersion: 4 });
      parser.on('packet', (p: Packet) => {
        if (p.cmd === 'connect') {
          const burst = [mqttPacket.generate({ cmd: 'connack', returnCode: 0, sessionPresent: true })];
          for (let i = 0; i < N; i++) {
            burst.push(mqttPacket.generate({ cmd: 'publish', topic: readingTopic('p-burst', 'dev-burst', 'hr'), payload: Buffer.from(encodeBody(hr(i), 'cbor')), qos: 1, messageId: i + 1, retain: false, dup: true }));
          }
          sock.write(Buffer.concat(burst));
        } else if (p.cmd === 'subscribe') {
          sock.write(mqttPacket.generate({ cmd: 'suback', messageId: p.messageId!, granted: p.subscriptions.map(() => 1) }));
        } else if (p.cmd === 'puback') {
          pubacks.push({ id: p.messageId!, at: Date.now() });
        } else if (p.cmd === 'pingreq') {
          sock.write(mqttPacket.generate({ cmd: 'pingresp' }));
        }
      });
      sock.on('data', (d) => parser.parse(d));
      sock.on('error', () => undefined);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as AddressInfo).port;
    try {
      const started = Date.now();
      const gw = await Gateway.start({ dataDir: t.dir, passphrase: PASS, scrypt: TEST_SCRYPT, logger: memoryLogger().logger, brokerUrl: `mqtt://127.0.0.1:${port}`, clientId: 'gw-burst', batchWindowMs: 400 });
      const deadline = Date.now() + 10_000;
      while (pubacks.length < N && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(gw.metrics().readingsAccepted, N, 'every reading of the burst was taken in');
      assert.deepEqual(pubacks.map((a) => a.id).sort((x, y) => x - y), Array.from({ length: N }, (_, i) => i + 1), 'each acknowledged once');
      assert.ok(pubacks[0]!.at - started >= 350, `a PUBACK came ${pubacks[0]!.at - started} ms after connecting, before the 400 ms batch could be durable`);
      await gw.stop();
      assert.deepEqual(await sealedSeqs(t.dir, PASS), Array.from({ length: N }, (_, i) => i));
    } finally {
      server.close();
      await t.cleanup();
    }
  });

  it('with --ack-on-arrival (the old behaviour) acknowledges before anything is durable', async () => {
    const t = await tempDir();
    const broker = await startBroker({ port: 0 });
    try {
      const gw = await Gateway.start({ dataDir: t.dir, passphrase: PASS, scrypt: TEST_SCRYPT, logger: memoryLogger().logger, brokerUrl: broker.url, clientId: 'gw-arr', batchWindowMs: 5000, ackPolicy: 'arrival' });
      let acked = 0;
      let indexedAtAck = -1;
      broker.aedes.on('ack', (_p, client) => {
        if (client?.id !== 'gw-arr') return;
        acked++;
        indexedAtAck = Math.max(indexedAtAck, indexed(t.dir).length);
      });
      const dev = await mqtt.connectAsync(broker.url, { clientId: 'dev-arr' });
      for (let i = 0; i < 5; i++) await dev.publishAsync(readingTopic('p-arr', 'dev-arr', 'hr'), Buffer.from(encodeBody(hr(i), 'json')), { qos: 1 });
      await dev.endAsync();
      const deadline = Date.now() + 5000;
      while (acked < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(acked, 5);
      assert.equal(indexedAtAck, 0, 'acknowledged while the index was still empty');
      await gw.stop();
    } finally {
      await broker.close();
      await t.cleanup();
    }
  });

  it('a flush that fails after taking its batches (epoch lookup throws, as on a full disk) puts them back and loses nothing', async () => {
    const t = await tempDir();
    const { logger, lines } = memoryLogger();
    try {
      const gw = await Gateway.start({ dataDir: t.dir, passphrase: PASS, scrypt: TEST_SCRYPT, logger, batchWindowMs: 60_000 });
      for (let i = 0; i < 10; i++) gw.acceptReading('p-ff', 'dev-ff', 'hr', hr(i));
      const realAt = gw.epochs.at.bind(gw.epochs);
      let failures = 0;
      gw.epochs.at = async () => {
        failures++;
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      };
      await assert.rejects(gw.flush(true), /ENOSPC/);
      assert.equal(failures, 1);
      assert.equal(gw.metrics().pendingReadings, 10, 'the readings are pending again');
      assert.equal(gw.durableBefore(), 0, 'nothing may be acknowledged while the readings are not durable');
      gw.epochs.at = realAt;
      await gw.flush(true);
      assert.equal(gw.durableBefore(), 10);
      await gw.stop();
      assert.equal(gw.metrics().flushErrors, 1);
      assert.ok(lines.some((l) => l.msg === 'flush failed; batches kept and retried'));
      assert.deepEqual(await sealedSeqs(t.dir, PASS), Array.from({ length: 10 }, (_, i) => i));
    } finally {
      await t.cleanup();
    }
  });

  it('a flush that fails while storing or indexing keeps its sealed batches and stores each exactly once', async () => {
    const t = await tempDir();
    try {
      const gw = await Gateway.start({ dataDir: t.dir, passphrase: PASS, scrypt: TEST_SCRYPT, logger: memoryLogger().logger, batchWindowMs: 60_000 });
      for (let i = 0; i < 10; i++) gw.acceptReading('p-ff2', 'dev-ff2', 'hr', hr(i));
      const realPut = gw.store.putMany.bind(gw.store);
      gw.store.putMany = async () => { throw new Error('EIO: i/o error, write'); };
      await assert.rejects(gw.flush(true), /EIO/);
      gw.store.putMany = realPut;
      for (let i = 10; i < 20; i++) gw.acceptReading('p-ff2', 'dev-ff2', 'hr', hr(i));
      const realAppend = gw.index.append.bind(gw.index);
      gw.index.append = async () => { throw new Error('EIO: i/o error, fsync'); };
      await assert.rejects(gw.flush(true), /EIO/);
      assert.ok(gw.durableBefore() <= 0);
      gw.index.append = realAppend;
      await gw.stop();
      assert.deepEqual(await sealedSeqs(t.dir, PASS), Array.from({ length: 20 }, (_, i) => i));
    } finally {
      await t.cleanup();
    }
  });

  it('after a crash between storing a pack and indexing it, adopts the pack, and takes redelivered readings as duplicates', async () => {
    const t: { dir: string; cleanup: () => Promise<void> } = await tempDir();
    try {
      const gw1 = await Gateway.start({ dataDir: t.dir, passphrase: PASS, scrypt: TEST_SCRYPT, logger: memoryLogger().logger, batchWindowMs: 60_000 });
      const topic = readingTopic('p-crash', 'dev-crash', 'hr');
      for (let i = 0; i < 12; i++) gw1.acceptMqtt(topic, encodeBody(hr(i), 'cbor'));
      // The process "dies" right after the pack is durable: the index never hears of it. The data
      // directory as it is at that moment is what the next start finds.
      const realAppend = gw1.index.append.bind(gw1.index);
      gw1.index.append = async () => { throw new Error('killed'); };
      await assert.rejects(gw1.flush(true), /killed/);
      const crashed = `${t.dir}-crashed`;
      await cp(t.dir, crashed, { recursive: true });
      // A crashed process leaves its lock behind, naming a pid that no longer runs; ours still does.
      await rm(join(crashed, 'lock'));
      const cleanOriginal = t.cleanup;
      t.cleanup = async () => { await cleanOriginal(); await rm(crashed, { recursive: true, force: true }); };
      gw1.index.append = realAppend;
      await gw1.stop();
      assert.equal(indexed(crashed).length, 0);
      t.dir = crashed;

      const gw2 = await Gateway.start({ dataDir: t.dir, passphrase: PASS, scrypt: TEST_SCRYPT, logger: memoryLogger().logger, batchWindowMs: 100 });
      assert.equal(gw2.metrics().adoptedAtStart, 1);
      // The broker redelivers all 12 (none was acknowledged), and two new ones follow.
      for (let i = 0; i < 14; i++) gw2.acceptMqtt(topic, encodeBody(hr(i), 'cbor'));
      await gw2.stop();
      assert.equal(gw2.metrics().duplicates, 12);
      assert.equal(gw2.metrics().readingsSealed, 2);
      assert.deepEqual(await sealedSeqs(t.dir, PASS), Array.from({ length: 14 }, (_, i) => i));

      // And after an ordinary restart, the index alone rebuilds de-duplication.
      const gw3 = await Gateway.start({ dataDir: t.dir, passphrase: PASS, scrypt: TEST_SCRYPT, logger: memoryLogger().logger, batchWindowMs: 100 });
      assert.equal(gw3.metrics().adoptedAtStart, 0);
      for (let i = 0; i < 14; i++) gw3.acceptMqtt(topic, encodeBody(hr(i), 'json'));
      await gw3.stop();
      assert.equal(gw3.metrics().duplicates, 14);
      assert.deepEqual(await sealedSeqs(t.dir, PASS), Array.from({ length: 14 }, (_, i) => i));
    } finally {
      await t.cleanup();
    }
  });
});
