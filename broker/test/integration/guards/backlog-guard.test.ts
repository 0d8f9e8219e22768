/**
 * Backpressure from a slow consumer to the devices (guards/backlog-guard.ts), on a real broker: a
 * persistent QoS 1 subscriber (a raw client that acknowledges only when told) and devices on MQTT.js.
 */
import assert from 'node:assert/strict';
import mqtt, { type MqttClient } from 'mqtt';
import { readingTopic } from '@vitalgate/protocol';
import { startBroker, type RunningBroker } from '../../../src/index.js';
import { RawClient } from '../../raw-mqtt.js';
import { sleep } from '../../support.js';

const BOUND = 100;

async function device(url: string, clientId: string): Promise<MqttClient> {
  const c = mqtt.connect(url, { clientId, clean: true, reconnectPeriod: 0 });
  await new Promise<void>((resolve, reject) => { c.once('connect', () => resolve()); c.once('error', reject); });
  return c;
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

  it('refuses, and never delivers, a held reading whose device went away (it was never acknowledged)', async () => {
    const fill = await device(broker.url, 'band-1');
    devices.push(fill);
    await Promise.all(Array.from({ length: BOUND }, (_, i) => fill.publishAsync(readingTopic('p1', 'band-1', 'hr'), JSON.stringify({ seq: i }), { qos: 1 })));
    const leaver = await device(broker.url, 'band-3');
    for (let i = 0; i < 20; i++) leaver.publish(readingTopic('p3', 'band-3', 'hr'), JSON.stringify({ seq: i }), { qos: 1 });
    for (const end = Date.now() + 5000; broker.stats().backpressure!.holding < 20; await sleep(20)) assert.ok(Date.now() < end, JSON.stringify(broker.stats().backpressure));
    leaver.end(true);
    await sleep(200);
    for (const end = Date.now() + 10_000; broker.stats().backpressure!.holding > 0; await sleep(20)) {
      assert.ok(Date.now() < end, JSON.stringify(broker.stats().backpressure));
      for (const p of gateway.take()) {
        assert.ok(!p.topic.includes('band-3'), 'a held reading of a device that left was delivered');
        if (p.qos === 1) gateway.send({ cmd: 'puback', messageId: p.messageId! });
      }
    }
    await sleep(200);
    assert.ok(!gateway.take().some((p) => p.topic.includes('band-3')));
    assert.equal(broker.stats().backpressure!.dropped, 20);
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
