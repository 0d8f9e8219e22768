/**
 * Backpressure from a slow consumer to the devices (guards/backlog-guard.ts), on a real broker: a
 * persistent QoS 1 subscriber (a raw client that acknowledges only when told) and devices on MQTT.js.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import pino from 'pino';
import { readingTopic } from '@vitalgate/protocol';
import type { Client, PublishPacket } from 'aedes';
import { startBroker, type RunningBroker } from '../../../src/index.js';
import { holdOnBacklog } from '../../../src/guards/backlog-guard.js';
import { openFilePersistence } from '../../../src/persistence/file/index.js';
import { RawClient } from '../../raw-mqtt.js';
import { sleep } from '../../support.js';

const BOUND = 100;

async function device(url: string, clientId: string): Promise<MqttClient> {
  const c = mqtt.connect(url, { clientId, clean: true, reconnectPeriod: 0 });
  await new Promise<void>((resolve, reject) => { c.once('connect', () => resolve()); c.once('error', reject); });
  return c;
}

/** Acknowledges what `consumer` is sent until it has `n` readings (within 10 s); their seqs, in arrival order. */
async function receiveAll(consumer: RawClient, n: number, detail: () => string = () => ''): Promise<number[]> {
  const got: number[] = [];
  for (const end = Date.now() + 10_000; got.length < n;) {
    assert.ok(Date.now() < end, `${got.length} of ${n} delivered${detail()}`);
    for (const p of consumer.take()) {
      if (p.topic.endsWith('/hr')) got.push((JSON.parse(p.payload.toString()) as { seq: number }).seq);
      if (p.qos === 1) consumer.send({ cmd: 'puback', messageId: p.messageId! });
    }
    await sleep(20);
  }
  return got;
}

describe('broker backpressure: device readings held while the consumers\' queue is at its bound', function () {
  this.timeout(30_000);
  let broker: RunningBroker;
  let gateway: RawClient;
  const devices: MqttClient[] = [];

  beforeEach(async () => {
    broker = await startBroker({ port: 0, maxBacklog: BOUND });
    ({ client: gateway } = await RawClient.connect(broker.port, { clientId: 'gw', clean: false }));
    assert.deepEqual(await gateway.subscribe([['vg/v1/#', 1]]), [1]);
  });
  afterEach(async () => {
    for (const d of devices.splice(0)) d.end(true);
    gateway.send({ cmd: 'disconnect' });
    await broker.close();
  });

  it('acknowledges no more than the bound while the consumer does not acknowledge; then, as it does, every reading arrives once', async () => {
    const d = await device(broker.url, 'band-1');
    devices.push(d);
    const acked = new Set<number>();
    const N = 600;
    const sent = Array.from({ length: N }, (_, i) => d.publishAsync(readingTopic('p1', 'band-1', 'hr'), JSON.stringify({ seq: i }), { qos: 1 }).then(() => { acked.add(i); }));
    await sleep(1500);
    const stats = broker.stats().backpressure!;
    // Each acknowledged reading is queued for the gateway, which acknowledges nothing yet.
    assert.ok(acked.size >= BOUND - 10 && acked.size <= BOUND + 10, `${acked.size} acknowledged to the device with a bound of ${BOUND}`);
    // Held: the rest of the read that reached the bound; the others wait unread (TCP backpressure).
    assert.ok(stats.holding > 0 && stats.holding <= N - acked.size, JSON.stringify(stats));
    assert.ok((broker.persistence as unknown as { outgoingCount(): number }).outgoingCount() <= BOUND + 10);
    const metrics = await broker.metrics.registry.metrics();
    assert.equal(Number(/^vitalgate_broker_readings_held (\d+)$/m.exec(metrics)?.[1]), stats.holding, 'the held gauge, for operators');
    assert.ok(Number(/^vitalgate_broker_readings_held_total (\d+)$/m.exec(metrics)?.[1]) >= stats.holding);

    // Another client's publish off the reading topics (the gateway's own, a status) is never held.
    const other = await device(broker.url, 'band-2');
    devices.push(other);
    const t = Date.now();
    await other.publishAsync('vg/v1/p1/band-2/status', 'ok', { qos: 1 });
    assert.ok(Date.now() - t < 1000, 'a status publish went through while readings were held');

    // The gateway acknowledges what it has, as it will: the held readings go on, in order.
    const got: number[] = [];
    for (const end = Date.now() + 20_000; acked.size < N || got.length < N;) {
      assert.ok(Date.now() < end, `only ${acked.size} acknowledged and ${got.length} delivered of ${N}`);
      for (const p of gateway.take()) {
        if (p.topic.endsWith('/hr')) got.push((JSON.parse(p.payload.toString()) as { seq: number }).seq);
        if (p.qos === 1) gateway.send({ cmd: 'puback', messageId: p.messageId! });
      }
      await sleep(20);
    }
    await Promise.all(sent);
    assert.deepEqual(got, Array.from({ length: N }, (_, i) => i), 'each reading delivered exactly once, in the order sent');
    assert.equal(broker.stats().backpressure!.holding, 0);
  });

  it('refuses at once, and never delivers, a held reading whose device went away (it was never acknowledged), while the queue stays at its bound', async () => {
    const fill = await device(broker.url, 'band-1');
    devices.push(fill);
    await Promise.all(Array.from({ length: BOUND }, (_, i) => fill.publishAsync(readingTopic('p1', 'band-1', 'hr'), JSON.stringify({ seq: i }), { qos: 1 })));
    const leaver = await device(broker.url, 'band-3');
    for (let i = 0; i < 20; i++) leaver.publish(readingTopic('p3', 'band-3', 'hr'), JSON.stringify({ seq: i }), { qos: 1 });
    for (const end = Date.now() + 5000; broker.stats().backpressure!.holding < 20; await sleep(20)) assert.ok(Date.now() < end, JSON.stringify(broker.stats().backpressure));
    // The gateway acknowledges nothing meanwhile: the held readings are let go because their device
    // left, not because the queue drained (a held device misses its keepalive and comes back, and
    // its old entries must not pile up beside the new ones).
    leaver.end(true);
    for (const end = Date.now() + 2000; broker.stats().backpressure!.holding > 0; await sleep(20)) assert.ok(Date.now() < end, JSON.stringify(broker.stats().backpressure));
    assert.equal(broker.stats().backpressure!.dropped, 20);
    for (const end = Date.now() + 10_000; (broker.persistence as unknown as { outgoingCount(): number }).outgoingCount() > 0; await sleep(20)) {
      assert.ok(Date.now() < end, 'the gateway drains the queue');
      for (const p of gateway.take()) {
        assert.ok(!p.topic.includes('band-3'), 'a held reading of a device that left was delivered');
        if (p.qos === 1) gateway.send({ cmd: 'puback', messageId: p.messageId! });
      }
    }
    await sleep(200);
    assert.ok(!gateway.take().some((p) => p.topic.includes('band-3')));
  });

  it('by default a consumer away still counts (its messages were acknowledged and live in the broker): devices are held at the bound until it is back', async () => {
    gateway.send({ cmd: 'disconnect' });
    for (const end = Date.now() + 2000; broker.stats().clients > 0; await sleep(20)) assert.ok(Date.now() < end, 'the gateway disconnects');
    const d = await device(broker.url, 'band-1');
    devices.push(d);
    const N = 3 * BOUND;
    let acked = 0;
    for (let i = 0; i < N; i++) void d.publishAsync(readingTopic('p1', 'band-1', 'hr'), JSON.stringify({ seq: i }), { qos: 1 }).then(() => acked++);
    await sleep(1500);
    assert.ok(acked >= BOUND - 10 && acked <= BOUND + 10, `${acked} acknowledged with the consumer away and a bound of ${BOUND}`);
    const metrics = await broker.metrics.registry.metrics();
    assert.equal(Number(/^vitalgate_broker_offline_queue_depth (\d+)$/m.exec(metrics)?.[1]), acked, 'the offline queue, for operators');
    ({ client: gateway } = await RawClient.connect(broker.port, { clientId: 'gw', clean: false }));
    assert.deepEqual(await receiveAll(gateway, N), Array.from({ length: N }, (_, i) => i));
  });

  it('with maxBacklogOfflineMs, a consumer away counts for that long, then no more: gone for good, it holds no device (a warning names it); back, it gets it all', async () => {
    const OFFLINE_MS = 1500;
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (l: string) => void lines.push(l) });
    const b = await startBroker({ port: 0, maxBacklog: BOUND, maxBacklogOfflineMs: OFFLINE_MS, logger });
    const d = await device(b.url, 'band-1');
    let gw = (await RawClient.connect(b.port, { clientId: 'gw-away', clean: false })).client;
    try {
      assert.deepEqual(await gw.subscribe([['vg/v1/#', 1]]), [1]);
      gw.send({ cmd: 'disconnect' });
      for (const end = Date.now() + 2000; b.stats().clients > 1; await sleep(20)) assert.ok(Date.now() < end, 'the consumer disconnects');
      const away = Date.now();
      const N = 3 * BOUND;
      let acked = 0;
      for (let i = 0; i < N; i++) void d.publishAsync(readingTopic('p1', 'band-1', 'hr'), JSON.stringify({ seq: i }), { qos: 1 }).then(() => acked++);
      await sleep(OFFLINE_MS / 2);
      assert.ok(acked >= BOUND - 10 && acked <= BOUND + 10, `${acked} acknowledged while the consumer has been away less than ${OFFLINE_MS} ms: the bound holds`);
      for (const end = Date.now() + 5000; acked < N; await sleep(20)) {
        assert.ok(Date.now() < end, `${acked} of ${N} acknowledged once the consumer has been away ${OFFLINE_MS} ms: ${JSON.stringify(b.stats().backpressure)}`);
      }
      assert.ok(Date.now() - away >= OFFLINE_MS - 50, 'released only once the consumer had been away long enough');
      assert.equal(b.stats().backpressure!.holding, 0);
      const warned = () => lines.map((l) => JSON.parse(l) as { client?: string; msg: string }).find((l) => /no longer holds devices back/.test(l.msg));
      for (const end = Date.now() + 1000; !warned(); await sleep(20)) assert.ok(Date.now() < end, 'the operator is told a session stopped holding devices back');
      assert.equal(warned()!.client, 'gw-away', 'and which');
      const metrics = await b.metrics.registry.metrics();
      assert.equal(Number(/^vitalgate_broker_offline_queue_depth (\d+)$/m.exec(metrics)?.[1]), N, 'the offline queue, for operators');
      // The consumer comes back to its session: every reading, once, in order.
      gw = (await RawClient.connect(b.port, { clientId: 'gw-away', clean: false })).client;
      assert.deepEqual(await receiveAll(gw, N), Array.from({ length: N }, (_, i) => i));
    } finally {
      d.end(true);
      gw.send({ cmd: 'disconnect' });
      await b.close();
    }
  });

  it('on the file persistence, a session restored at start counts from the start, then not; its queue is delivered whole when its consumer is back', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vg-backlog-'));
    const N = 2 * BOUND;
    const topic = readingTopic('p1', 'band-1', 'hr');
    try {
      // A first broker queues N readings for the consumer's session while it is away, and stops.
      const p1 = await openFilePersistence({ dir });
      const b1 = await startBroker({ port: 0, persistence: p1, maxBacklog: 0 });
      const first = (await RawClient.connect(b1.port, { clientId: 'gw-disk', clean: false })).client;
      assert.deepEqual(await first.subscribe([['vg/v1/#', 1]]), [1]);
      first.send({ cmd: 'disconnect' });
      const d1 = await device(b1.url, 'band-1');
      await Promise.all(Array.from({ length: N }, (_, i) => d1.publishAsync(topic, JSON.stringify({ seq: i }), { qos: 1 })));
      d1.end(true);
      await b1.close();
      await p1.destroy();

      // The next broker restores that queue, above the bound: a device is held until the grace is over.
      const OFFLINE_MS = 1000;
      const p2 = await openFilePersistence({ dir });
      const b2 = await startBroker({ port: 0, persistence: p2, maxBacklog: BOUND, maxBacklogOfflineMs: OFFLINE_MS, logger: pino({ level: 'silent' }) });
      const d2 = await device(b2.url, 'band-1');
      try {
        const t = Date.now();
        await d2.publishAsync(topic, JSON.stringify({ seq: N }), { qos: 1 });
        const waited = Date.now() - t;
        assert.ok(waited >= OFFLINE_MS / 2, `held while the restored session still counted (${waited} ms)`);
        assert.ok(waited < OFFLINE_MS + 3000, `released once it no longer did (${waited} ms)`);
        assert.equal(b2.stats().backpressure!.held, 1);
        const gw = (await RawClient.connect(b2.port, { clientId: 'gw-disk', clean: false })).client;
        assert.deepEqual(await receiveAll(gw, N + 1), Array.from({ length: N + 1 }, (_, i) => i), 'the restored queue, then the held reading, each once');
        gw.send({ cmd: 'disconnect' });
      } finally {
        d2.end(true);
        await b2.close();
        await p2.destroy();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('releases at a bound of 1 (its release mark is 0, an empty queue)', async () => {
    const one = await startBroker({ port: 0, maxBacklog: 1 });
    const { client: gw } = await RawClient.connect(one.port, { clientId: 'gw', clean: false });
    const d = await device(one.url, 'band-1');
    try {
      assert.deepEqual(await gw.subscribe([['vg/v1/#', 1]]), [1]);
      const N = 30;
      const sent = Promise.all(Array.from({ length: N }, (_, i) => d.publishAsync(readingTopic('p1', 'band-1', 'hr'), JSON.stringify({ seq: i }), { qos: 1 })));
      const got = await receiveAll(gw, N, () => `: ${JSON.stringify(one.stats().backpressure)}`);
      await sent;
      assert.deepEqual(got, Array.from({ length: N }, (_, i) => i));
      assert.ok(one.stats().backpressure!.held > 0, 'readings were held on the way');
    } finally {
      d.end(true);
      gw.send({ cmd: 'disconnect' });
      await one.close();
    }
  });

  it('refuses whatever is held when the broker closes, and whatever would be held after', async () => {
    const guard = holdOnBacklog((_c, _p, cb) => cb(null), { backlog: () => 10, highWater: 5, holds: () => true });
    const client = { closed: false } as unknown as Client;
    const packet = { topic: 't' } as PublishPacket;
    const outcome = (): Promise<string> => new Promise((resolve) => guard.authorizePublish(client, packet, (err) => resolve(err ? err.message : 'published')));
    const held = outcome();
    assert.equal(guard.stats().holding, 1);
    guard.close();
    assert.equal(await held, 'the broker is closing');
    assert.equal(await outcome(), 'the broker is closing', 'not held once closed');
    assert.equal(guard.stats().holding, 0);
    assert.throws(() => holdOnBacklog((_c, _p, cb) => cb(null), { backlog: () => 0, highWater: 5, lowWater: 5, holds: () => true }), /release mark must be under the bound/);
  });

  it('is off at 0, and refuses a bound that is not a whole number', async () => {
    const off = await startBroker({ port: 0, maxBacklog: 0 });
    try {
      assert.equal(off.stats().backpressure, undefined);
    } finally {
      await off.close();
    }
    await assert.rejects(startBroker({ port: 0, maxBacklog: 1.5 }), /maxBacklog must be a whole number/);
  });
});
