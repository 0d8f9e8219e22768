/**
 * MQTT 3.1.1 conformance, part 2: PUBLISH, retained messages, SUBSCRIBE/UNSUBSCRIBE, topic names
 * and filters, ordering, and the registry policy's answers to denied publishes and subscriptions.
 * See mqtt-conformance.test.ts for how the broker is started and spoken to.
 */
import assert from 'node:assert/strict';
import mqttPacket from 'mqtt-packet';
import pino from 'pino';
import { createRegistryPolicy, Registry, startBroker, type RegistryPolicy, type RunningBroker } from '../src/index.js';
import { publishBytes, RawClient, subscribeBytes } from './raw-mqtt.js';
import { sleep } from './support.js';

const FAST = { scrypt: { N: 1 << 10, r: 8, p: 1, dkLen: 32 } };
const silent = pino({ level: 'silent' });

describe('MQTT 3.1.1 conformance: PUBLISH, retain, SUBSCRIBE, topics', function () {
  this.timeout(5000);
  let broker: RunningBroker;
  const open: RawClient[] = [];
  let n = 0;
  /** A connected raw client with a fresh id. */
  const client = async (opts: Partial<mqttPacket.IConnectPacket> = {}): Promise<RawClient> => {
    const r = await RawClient.connect(broker.port, { clientId: `conf-t${++n}`, ...opts });
    open.push(r.client);
    assert.equal(r.connack.returnCode, 0);
    return r.client;
  };
  /** Whether a connection is closed by `send`ing `bytes`, and nothing it sent reached a '#' subscriber. */
  const violation = async (bytes: Buffer | mqttPacket.Packet): Promise<{ closed: boolean; answers: string[] }> => {
    const c = await client();
    c.send(bytes);
    const closed = await c.closesWithin(1000);
    return { closed, answers: c.packets.map((p) => p.cmd) };
  };

  before(async () => {
    broker = await startBroker({ port: 0, logger: silent });
  });
  afterEach(() => {
    for (const c of open.splice(0)) c.destroy();
  });
  after(async () => {
    await broker.close();
  });

  it('[MQTT-3.3.1-5] [MQTT-3.3.1-6] [MQTT-3.3.1-8] a retained message is stored, replaced by the next one, and sent with RETAIN 1 to a new subscription', async () => {
    const pub = await client();
    await pub.publish('conf/ret/a', 'v1', { qos: 1, retain: true });
    await pub.publish('conf/ret/a', 'v2', { qos: 1, retain: true });
    const sub = await client();
    await sub.subscribe([['conf/ret/+', 1]]);
    const m = await sub.next('publish');
    assert.equal(m.payload.toString(), 'v2');
    assert.equal(m.retain, true);
    await sleep(100);
    assert.deepEqual(sub.take(), [], 'only the last retained message');
    await pub.publish('conf/ret/a', '', { qos: 1, retain: true });
  });

  it('[MQTT-3.3.1-9] a retained PUBLISH forwarded to an existing subscription has RETAIN 0', async () => {
    const sub = await client();
    await sub.subscribe([['conf/ret9', 0]]);
    const pub = await client();
    await pub.publish('conf/ret9', 'live', { qos: 1, retain: true });
    const m = await sub.next('publish');
    assert.equal(m.payload.toString(), 'live');
    assert.equal(m.retain, false);
    await pub.publish('conf/ret9', '', { qos: 1, retain: true });
  });

  it('[MQTT-3.3.1-7] a QoS 0 retained message replaces the previous one and is kept as QoS 0', async () => {
    const pub = await client();
    await pub.publish('conf/ret7', 'q1', { qos: 1, retain: true });
    await pub.publish('conf/ret7', 'q0', { qos: 0, retain: true });
    await sleep(50);
    const sub = await client();
    await sub.subscribe([['conf/ret7', 1]]);
    const m = await sub.next('publish');
    assert.equal(m.payload.toString(), 'q0');
    assert.equal(m.qos, 0);
    await pub.publish('conf/ret7', '', { qos: 1, retain: true });
  });

  it('[MQTT-3.3.1-10] [MQTT-3.3.1-11] a zero-byte retained PUBLISH is delivered to current subscribers and removes the retained message', async () => {
    const pub = await client();
    await pub.publish('conf/ret10', 'keep', { qos: 1, retain: true });
    const sub = await client();
    await sub.subscribe([['conf/ret10', 1]]);
    assert.equal((await sub.next('publish')).payload.toString(), 'keep');
    await pub.publish('conf/ret10', '', { qos: 1, retain: true });
    const empty = await sub.next('publish');
    assert.equal(empty.payload.length, 0);
    const late = await client();
    await late.subscribe([['conf/ret10', 1]]);
    await sleep(150);
    assert.deepEqual(late.take(), [], 'nothing retained any more');
  });

  it('[MQTT-3.3.1-12] a PUBLISH with RETAIN 0 neither stores nor replaces the retained message', async () => {
    const pub = await client();
    await pub.publish('conf/ret12', 'kept', { qos: 1, retain: true });
    await pub.publish('conf/ret12', 'not-kept', { qos: 1, retain: false });
    const sub = await client();
    await sub.subscribe([['conf/ret12', 1]]);
    assert.equal((await sub.next('publish')).payload.toString(), 'kept');
    await pub.publish('conf/ret12', '', { qos: 1, retain: true });
  });

  it('[MQTT-3.3.1-5] DEVIATION (Vitalgate rule, issue 10 item 1): a retained PUBLISH on a reading topic is refused by closing the connection (allowed by [MQTT-3.3.5-2]) and nothing is retained', async () => {
    const pub = await client();
    pub.send({ cmd: 'publish', topic: 'vg/v1/p1/d1/hr', payload: Buffer.from('{"seq":1}'), qos: 1, messageId: 3, retain: true, dup: false });
    assert.equal(await pub.closesWithin(1000), true);
    assert.ok(!pub.packets.some((p) => p.cmd === 'puback'), 'not acknowledged');
    const sub = await client();
    await sub.subscribe([['vg/v1/p1/#', 1]]);
    await sleep(150);
    assert.deepEqual(sub.take(), []);
  });

  it('[MQTT-3.3.2-2] [MQTT-4.7.1-1] a topic name with a wildcard closes the connection and is not delivered', async () => {
    const sub = await client();
    await sub.subscribe([['conf/wild/#', 0]]);
    for (const topic of ['conf/wild/+', 'conf/wild/#', 'conf/wild/a+b']) {
      const r = await violation(publishBytes(Buffer.from(topic), Buffer.from('x'), 0x32, 9));
      assert.equal(r.closed, true, topic);
      assert.ok(!r.answers.includes('puback'), topic);
    }
    await sleep(100);
    assert.deepEqual(sub.take(), []);
  });

  it('[MQTT-4.7.3-1] a PUBLISH with a zero-length topic name closes the connection', async () => {
    const r = await violation(publishBytes(Buffer.alloc(0), Buffer.from('x')));
    assert.equal(r.closed, true);
  });

  it('[MQTT-3.3.4-1] [MQTT-2.3.1-6] QoS 1 PUBLISH gets a PUBACK with its packet id, QoS 2 a PUBREC then PUBCOMP, QoS 0 nothing', async () => {
    const c = await client();
    c.send({ cmd: 'publish', topic: 'conf/ack', payload: Buffer.from('0'), qos: 0, retain: false, dup: false });
    c.send({ cmd: 'publish', topic: 'conf/ack', payload: Buffer.from('1'), qos: 1, messageId: 4242, retain: false, dup: false });
    const ack = await c.next('puback');
    assert.equal(ack.messageId, 4242);
    c.send({ cmd: 'publish', topic: 'conf/ack', payload: Buffer.from('2'), qos: 2, messageId: 4243, retain: false, dup: false });
    assert.equal((await c.next('pubrec')).messageId, 4243);
    c.send({ cmd: 'pubrel', messageId: 4243 });
    assert.equal((await c.next('pubcomp')).messageId, 4243);
    await sleep(50);
    assert.deepEqual(c.packets, [], 'no answer to the QoS 0 publish');
  });

  it('[MQTT-3.3.1-3] a PUBLISH received with DUP 1 is forwarded with DUP 0 (DUP is set per hop)', async () => {
    const sub = await client();
    await sub.subscribe([['conf/dup', 1]]);
    const pub = await client();
    await pub.publish('conf/dup', 'x', { qos: 1, dup: true });
    const m = await sub.next('publish');
    assert.equal(m.dup, false);
  });

  it('[MQTT-3.3.1-4] [MQTT-4.8.0-1] a PUBLISH with both QoS bits set is a protocol violation: closed, not delivered', async () => {
    const sub = await client();
    await sub.subscribe([['conf/qos3', 0]]);
    const r = await violation(publishBytes(Buffer.from('conf/qos3'), Buffer.from('x'), 0x36, 5));
    assert.equal(r.closed, true);
    await sleep(100);
    assert.deepEqual(sub.take(), []);
  });

  it('[MQTT-3.6.1-1] a PUBREL whose reserved header flags are not 0010 closes the connection', async () => {
    assert.equal((await violation(Buffer.from([0x60, 0x02, 0x00, 0x01]))).closed, true);
  });

  it('[MQTT-3.8.1-1] a SUBSCRIBE whose reserved header flags are not 0010 closes the connection, without SUBACK', async () => {
    const r = await violation(subscribeBytes(11, [[Buffer.from('conf/s'), 0]], 0x80));
    assert.equal(r.closed, true);
    assert.ok(!r.answers.includes('suback'));
  });

  it('[MQTT-3.10.1-1] an UNSUBSCRIBE whose reserved header flags are not 0010 closes the connection, without UNSUBACK', async () => {
    const r = await violation(Buffer.from([0xa0, 0x05, 0x00, 0x0c, 0x00, 0x01, 0x61]));
    assert.equal(r.closed, true);
    assert.ok(!r.answers.includes('unsuback'));
  });

  it('[MQTT-3.8.3-3] a SUBSCRIBE with no topic filter closes the connection, without SUBACK', async () => {
    const r = await violation(Buffer.from([0x82, 0x02, 0x00, 0x0d]));
    assert.equal(r.closed, true);
    assert.ok(!r.answers.includes('suback'));
  });

  it('[MQTT-3.10.3-2] an UNSUBSCRIBE with no topic filter closes the connection, without UNSUBACK', async () => {
    const r = await violation(Buffer.from([0xa2, 0x02, 0x00, 0x0e]));
    assert.equal(r.closed, true);
    assert.ok(!r.answers.includes('unsuback'));
  });

  it('[MQTT-3.8.3-4] a SUBSCRIBE requesting QoS 3 (or reserved bits set) closes the connection', async () => {
    for (const qos of [3, 0x40]) {
      const r = await violation(subscribeBytes(12, [[Buffer.from('conf/s'), qos]]));
      assert.equal(r.closed, true, `requested byte ${qos}`);
      assert.ok(!r.answers.includes('suback'));
    }
  });

  it('[MQTT-3.8.4-1] [MQTT-3.8.4-2] [MQTT-3.8.4-4] [MQTT-3.8.4-5] a SUBSCRIBE gets one SUBACK with the same packet id and a code per filter', async () => {
    const c = await client();
    c.send({ cmd: 'subscribe', messageId: 31337, subscriptions: [{ topic: 'conf/s/a', qos: 2 }, { topic: 'conf/s/b', qos: 0 }, { topic: 'conf/s/c', qos: 1 }] });
    const suback = await c.next('suback');
    assert.equal(suback.messageId, 31337);
    assert.deepEqual(suback.granted, [2, 0, 1]);
    await sleep(50);
    assert.equal(c.packets.filter((p) => p.cmd === 'suback').length, 0, 'one SUBACK only');
  });

  it('[MQTT-3.8.4-3] subscribing again to the same filter replaces the subscription (one copy, new QoS) and re-sends the retained message', async () => {
    const pub = await client();
    await pub.publish('conf/resub', 'r', { qos: 1, retain: true });
    const c = await client();
    await c.subscribe([['conf/resub', 0]]);
    assert.equal((await c.next('publish')).qos, 0);
    assert.deepEqual(await c.subscribe([['conf/resub', 1]]), [1]);
    const again = await c.next('publish');
    assert.equal(again.retain, true);
    assert.equal(again.qos, 1);
    c.send({ cmd: 'puback', messageId: again.messageId! });
    await pub.publish('conf/resub', 'live', { qos: 1 });
    const live = await c.next('publish', (p) => p.payload.toString() === 'live');
    assert.equal(live.qos, 1);
    await sleep(100);
    assert.deepEqual(c.take().map((p) => p.payload.toString()), [], 'one subscription, one copy');
    await pub.publish('conf/resub', '', { qos: 1, retain: true });
  });

  it('[MQTT-3.10.4-4] [MQTT-3.10.4-5] UNSUBSCRIBE gets an UNSUBACK with the same packet id, even when no subscription matched', async () => {
    const c = await client();
    c.send({ cmd: 'unsubscribe', messageId: 777, unsubscriptions: ['conf/never-subscribed'] });
    assert.equal((await c.next('unsuback')).messageId, 777);
    await c.subscribe([['conf/unsub', 0]]);
    c.send({ cmd: 'unsubscribe', messageId: 778, unsubscriptions: ['conf/unsub', 'conf/other'] });
    assert.equal((await c.next('unsuback')).messageId, 778);
    // [MQTT-3.10.4-2]: no new messages for the removed subscription.
    const pub = await client();
    await pub.publish('conf/unsub', 'x', { qos: 1 });
    await sleep(100);
    assert.deepEqual(c.take(), []);
  });

  it('[MQTT-4.7.1-2] a filter with "#" not alone as the last level closes the connection ("a#", "a/#/b", "#a")', async () => {
    for (const f of ['conf/a#', 'conf/#/b', 'conf/#a', 'a#']) {
      const r = await violation(subscribeBytes(13, [[Buffer.from(f), 0]]));
      assert.equal(r.closed, true, f);
      assert.ok(!r.answers.includes('suback'), f);
    }
  });

  it('[MQTT-4.7.1-3] a filter with "+" not a whole level closes the connection ("+a", "a/+b", "x+", "a/b+")', async () => {
    for (const f of ['+a', 'conf/+b', 'x+', 'conf/b+']) {
      const r = await violation(subscribeBytes(14, [[Buffer.from(f), 0]]));
      assert.equal(r.closed, true, f);
      assert.ok(!r.answers.includes('suback'), f);
    }
  });

  it('[MQTT-4.7.1-2] [MQTT-4.7.1-3] valid wildcard filters are granted and match as specified', async () => {
    const c = await client();
    assert.deepEqual(await c.subscribe([['conf/w/#', 0], ['+/w/+/x', 0], ['conf/+', 0], ['+', 0]]), [0, 0, 0, 0]);
    const pub = await client();
    await pub.publish('conf/w', 'parent', { qos: 1 }); // "conf/w/#" matches its parent level [4.7.1.2]; "conf/+" too
    await pub.publish('conf/w/y/x', 'deep', { qos: 1 });
    await sleep(150);
    const got = c.take().map((p) => `${p.topic}=${p.payload.toString()}`).sort();
    // The server MAY deliver one copy per matching subscription [MQTT-3.3.5-1]; both topics arrive.
    assert.ok(got.includes('conf/w=parent'), got.join(' '));
    assert.ok(got.includes('conf/w/y/x=deep'), got.join(' '));
    assert.ok(got.every((g) => g === 'conf/w=parent' || g === 'conf/w/y/x=deep'), got.join(' '));
  });

  it('[MQTT-4.7.2-1] "#" and "+" filters do not match topics beginning with "$"; an explicit "$" filter does', async () => {
    const wild = await client();
    await wild.subscribe([['#', 0], ['+/conf', 0]]);
    const dollar = await client();
    await dollar.subscribe([['$vg/conf', 0]]);
    const pub = await client();
    await pub.publish('$vg/conf', 'dollar', { qos: 1 });
    await dollar.next('publish', (p) => p.topic === '$vg/conf');
    await sleep(100);
    assert.deepEqual(wild.take().filter((p) => p.topic.startsWith('$')).map((p) => p.topic), []);
  });

  it('[MQTT-4.6.0-5] [MQTT-4.6.0-6] QoS 1 messages on one topic are delivered in the order they were published', async () => {
    const sub = await client();
    await sub.subscribe([['conf/order', 1]]);
    const pub = await client();
    for (let i = 0; i < 100; i++) pub.send({ cmd: 'publish', topic: 'conf/order', payload: Buffer.from(String(i)), qos: 1, messageId: i + 1, retain: false, dup: false });
    const got: number[] = [];
    while (got.length < 100) {
      const m = await sub.next('publish');
      got.push(Number(m.payload.toString()));
      sub.send({ cmd: 'puback', messageId: m.messageId! });
    }
    assert.deepEqual(got, Array.from({ length: 100 }, (_, i) => i));
  });

  it('[MQTT-1.5.3-2] [MQTT-4.7.3-2] U+0000 in a topic name or a topic filter closes the connection, nothing is delivered', async () => {
    const sub = await client();
    await sub.subscribe([['conf/nul/#', 0]]);
    const pubR = await violation(publishBytes(Buffer.from('conf/nul/a\u0000b'), Buffer.from('x'), 0x32, 15));
    assert.equal(pubR.closed, true);
    assert.ok(!pubR.answers.includes('puback'));
    const subR = await violation(subscribeBytes(16, [[Buffer.from('conf/nul/\u0000'), 0]]));
    assert.equal(subR.closed, true);
    assert.ok(!subR.answers.includes('suback'));
    await sleep(100);
    assert.deepEqual(sub.take(), []);
  });

  it('[MQTT-1.5.3-1] ill-formed UTF-8 in a topic name or filter (a bare continuation byte, an encoded surrogate, an overlong "/") closes the connection', async () => {
    const sub = await client();
    await sub.subscribe([['conf/utf/#', 0]]);
    for (const bad of [[0x80], [0xed, 0xa0, 0x80], [0xc0, 0xaf]]) {
      const topic = Buffer.concat([Buffer.from('conf/utf/'), Buffer.from(bad)]);
      const p = await violation(publishBytes(topic, Buffer.from('x'), 0x32, 17));
      assert.equal(p.closed, true, `publish ${Buffer.from(bad).toString('hex')}`);
      assert.ok(!p.answers.includes('puback'));
      const s = await violation(subscribeBytes(18, [[topic, 0]]));
      assert.equal(s.closed, true, `subscribe ${Buffer.from(bad).toString('hex')}`);
      assert.ok(!s.answers.includes('suback'));
    }
    await sleep(100);
    assert.deepEqual(sub.take(), []);
  });
});

describe('MQTT 3.1.1 conformance: the registry policy\'s answers', function () {
  this.timeout(5000);
  let broker: RunningBroker;
  let policy: RegistryPolicy;
  const secrets: Record<string, string> = {};
  const open: RawClient[] = [];
  const login = async (id: string, opts: Partial<mqttPacket.IConnectPacket> = {}): Promise<RawClient> => {
    const r = await RawClient.connect(broker.port, { clientId: id, username: id, password: Buffer.from(secrets[id]!), ...opts });
    open.push(r.client);
    assert.equal(r.connack.returnCode, 0);
    return r.client;
  };

  before(async () => {
    const registry = new Registry();
    secrets.pd1 = (await registry.addDevice('pd1', 'pp1', ['hr'], FAST)).secret;
    secrets.pd2 = (await registry.addDevice('pd2', 'pp1', ['hr'], FAST)).secret;
    secrets.pgw = (await registry.addGateway('pgw', ['pp1'], FAST)).secret;
    policy = createRegistryPolicy(registry, { logger: silent, publishRate: { perSecond: 20, burst: 2 } });
    broker = await startBroker({ port: 0, policy, logger: silent });
  });
  afterEach(() => {
    for (const c of open.splice(0)) c.destroy();
  });
  after(async () => {
    policy.close();
    await broker.close();
  });

  it('[MQTT-3.3.5-2] a QoS 1 PUBLISH the ACL denies is not acknowledged: the connection is closed, and nothing is delivered', async () => {
    const gw = await login('pgw');
    await gw.subscribe([['vg/v1/pp1/#', 1]]);
    const d = await login('pd1');
    d.send({ cmd: 'publish', topic: 'vg/v1/pp1/pd2/hr', payload: Buffer.from('{"forged":1}'), qos: 1, messageId: 21, retain: false, dup: false });
    assert.equal(await d.closesWithin(1000), true);
    assert.ok(!d.packets.some((p) => p.cmd === 'puback'), 'closed, not acknowledged');
    await sleep(100);
    assert.deepEqual(gw.take(), []);
    assert.equal(policy.stats().byReason['publish:other-device'], 1);
  });

  it('[MQTT-3.3.5-2] [MQTT-3.3.4-1] publishes held back by the rate limit are still acknowledged, in order, and delivered', async () => {
    const gw = await login('pgw');
    await gw.subscribe([['vg/v1/pp1/pd2/hr', 1]]);
    const d = await login('pd2');
    const t0 = Date.now();
    for (let i = 0; i < 8; i++) d.send({ cmd: 'publish', topic: 'vg/v1/pp1/pd2/hr', payload: Buffer.from(String(i)), qos: 1, messageId: 100 + i, retain: false, dup: false });
    const acks: number[] = [];
    for (let i = 0; i < 8; i++) acks.push((await d.next('puback')).messageId!);
    assert.deepEqual(acks, [100, 101, 102, 103, 104, 105, 106, 107]);
    assert.ok(Date.now() - t0 >= 200, `throttled to 20/s after a burst of 2 (${Date.now() - t0} ms)`);
    const got: string[] = [];
    while (got.length < 8) {
      const m = await gw.next('publish');
      got.push(m.payload.toString());
      gw.send({ cmd: 'puback', messageId: m.messageId! });
    }
    assert.deepEqual(got, ['0', '1', '2', '3', '4', '5', '6', '7']);
    assert.equal(d.isClosed, false);
  });

  it('[MQTT-3.9.3-1] [MQTT-3.9.3-2] [MQTT-3.8.4-5] SUBACK return codes follow the order of the filters, 0x80 for each one authorizeSubscribe refuses', async () => {
    const gw = await login('pgw');
    gw.send({ cmd: 'subscribe', messageId: 55, subscriptions: [{ topic: 'vg/v1/pp1/+/hr', qos: 1 }, { topic: 'vg/v1/pp2/#', qos: 1 }, { topic: 'vg/v1/pp1/#', qos: 0 }, { topic: '#', qos: 1 }] });
    const suback = await gw.next('suback');
    assert.equal(suback.messageId, 55);
    assert.deepEqual(suback.granted, [1, 0x80, 0, 0x80]);
    assert.equal(gw.isClosed, false, 'a refused filter does not cost the connection');
    // A device may subscribe only to its own command topic.
    const d = await login('pd1');
    assert.deepEqual(await d.subscribe([['vg/v1/pp1/pd1/cmd', 1], ['vg/v1/pp1/pd2/cmd', 1]]), [1, 0x80]);
  });

  it('[MQTT-3.3.1-5] retain semantics under the ACL: a gateway\'s retained command is kept and sent to the device that subscribes later (RETAIN 1)', async () => {
    const gw = await login('pgw');
    await gw.publish('vg/v1/pp1/pd1/cmd', '{"cmd":"interval","ms":500}', { qos: 1, retain: true });
    const d = await login('pd1');
    assert.deepEqual(await d.subscribe([['vg/v1/pp1/pd1/cmd', 1]]), [1]);
    const m = await d.next('publish');
    assert.equal(m.retain, true);
    assert.equal(m.payload.toString(), '{"cmd":"interval","ms":500}');
    await gw.publish('vg/v1/pp1/pd1/cmd', '', { qos: 1, retain: true });
  });
});
