import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { startBroker } from '../src/index.js';

describe('embedded broker', () => {
  it('binds to loopback on a free port and relays a QoS 1 publish', async () => {
    const broker = await startBroker({ port: 0 });
    try {
      assert.equal(broker.host, '127.0.0.1');
      assert.ok(broker.port > 0);
      const sub = await mqtt.connectAsync(broker.url, { clientId: 'sub-1' });
      const pub = await mqtt.connectAsync(broker.url, { clientId: 'a-device-id-longer-than-twenty-three-chars' });
      await sub.subscribeAsync('vg/v1/+/+/+', { qos: 1 });
      const got = new Promise<[string, string]>((resolve) => sub.once('message', (t, m) => resolve([t, m.toString()])));
      await pub.publishAsync('vg/v1/p1/d1/hr', '{"x":1}', { qos: 1 });
      assert.deepEqual(await got, ['vg/v1/p1/d1/hr', '{"x":1}']);
      assert.equal(broker.stats().clients, 2);
      // aedes counts a publish when its fan-out completes, which may be just after delivery.
      for (let i = 0; i < 50 && broker.stats().messagesIn < 1; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(broker.stats().messagesIn, 1);
      await Promise.all([sub.endAsync(), pub.endAsync()]);
    } finally {
      await broker.close();
    }
  });

  it('says clearly when the port is taken', async () => {
    const a = await startBroker({ port: 0 });
    try {
      await assert.rejects(startBroker({ port: a.port }), /already in use/);
    } finally {
      await a.close();
    }
  });

  it('applies an authorizePublish policy', async () => {
    const broker = await startBroker({
      port: 0,
      policy: { authorizePublish: (_c, packet, cb) => cb(packet.topic.startsWith('vg/v1/ok/') ? null : new Error('denied')) },
    });
    try {
      const sub = await mqtt.connectAsync(broker.url, { clientId: 's' });
      await sub.subscribeAsync('#', { qos: 1 });
      const seen: string[] = [];
      sub.on('message', (t) => seen.push(t));
      const pub = await mqtt.connectAsync(broker.url, { clientId: 'p', reconnectPeriod: 0 });
      await pub.publishAsync('vg/v1/ok/d/hr', 'a', { qos: 0 });
      await pub.publishAsync('vg/v1/no/d/hr', 'b', { qos: 0 }).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(seen, ['vg/v1/ok/d/hr']);
      await Promise.all([sub.endAsync(), pub.endAsync(true)]);
    } finally {
      await broker.close();
    }
  });
});
