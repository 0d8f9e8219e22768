/**
 * MQTT 3.1.1 conformance (OASIS standard, 29 October 2014), part 1: CONNECT, sessions, wills,
 * keep alive, PING and DISCONNECT. Each it() names the normative statement it checks. The broker
 * is the real one (startBroker: aedes + packet guard + session rules, and the registry policy
 * where a statement concerns it), spoken to through a raw TCP socket so that exactly the bytes a
 * statement is about are sent. Deviations aedes keeps are asserted as they are (and shown to be
 * safe) and listed in docs/operations.md, "MQTT 3.1.1 conformance".
 * Part 2 (PUBLISH, SUBSCRIBE, topics) is mqtt-conformance-topics.test.ts.
 */
import assert from 'node:assert/strict';
import mqttPacket from 'mqtt-packet';
import pino from 'pino';
import { createRegistryPolicy, Registry, startBroker, type RegistryPolicy, type RunningBroker } from '../src/index.js';
import { connectBytes, RawClient } from './raw-mqtt.js';
import { sleep } from './support.js';

const FAST = { scrypt: { N: 1 << 10, r: 8, p: 1, dkLen: 32 } };
const silent = pino({ level: 'silent' });

describe('MQTT 3.1.1 conformance: CONNECT, sessions, wills, keep alive', function () {
  this.timeout(5000);
  let broker: RunningBroker;
  const open: RawClient[] = [];
  const conn = async (connect: Partial<mqttPacket.IConnectPacket> & { clientId: string }) => {
    const r = await RawClient.connect(broker.port, connect);
    open.push(r.client);
    return r;
  };
  const raw = async () => {
    const c = await RawClient.open(broker.port);
    open.push(c);
    return c;
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

  it('[MQTT-3.1.0-1] a first packet that is not CONNECT closes the connection without an answer', async () => {
    for (const first of [{ cmd: 'pingreq' }, { cmd: 'publish', topic: 'conf/x', payload: Buffer.from('x'), qos: 0, retain: false, dup: false }, { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '#', qos: 0 }] }] as mqttPacket.Packet[]) {
      const c = await raw();
      c.send(first);
      assert.equal(await c.closesWithin(1000), true, `${first.cmd} first`);
      assert.deepEqual(c.packets, [], `nothing answered to ${first.cmd}`);
    }
  });

  it('[MQTT-3.1.0-2] a second CONNECT on a connection is a protocol violation: the server disconnects', async () => {
    const { client, connack } = await conn({ clientId: 'conf-2nd' });
    assert.equal(connack.returnCode, 0);
    client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, keepalive: 30, clean: true, clientId: 'conf-2nd-b' });
    assert.equal(await client.closesWithin(1000), true);
    assert.equal(client.packets.filter((p) => p.cmd === 'connack').length, 0, 'no second CONNACK');
  });

  it('[MQTT-3.1.2-1] an unknown protocol name: the server disconnects without accepting (no CONNACK 0)', async () => {
    const c = await raw();
    c.send(connectBytes('conf-name', { name: 'MQTX' }));
    assert.equal(await c.closesWithin(1000), true);
    assert.ok(!c.packets.some((p) => p.cmd === 'connack' && p.returnCode === 0), 'not accepted');
  });

  it('[MQTT-3.1.2-2] protocol level 5 (unsupported): CONNACK 1 and the connection is closed', async () => {
    const c = await raw();
    c.send(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, keepalive: 30, clean: true, clientId: 'conf-level5' }, { protocolVersion: 5 }));
    const connack = await c.next('connack');
    assert.equal(connack.returnCode, 1);
    assert.equal(await c.closesWithin(1000), true);
  });

  it('[MQTT-3.1.2-2] DEVIATION: protocol level 6 or 2 is closed without CONNACK 1 (mqtt-packet refuses to parse it); never accepted', async () => {
    for (const level of [6, 2]) {
      const c = await raw();
      c.send(connectBytes(`conf-level${level}`, { level }));
      assert.equal(await c.closesWithin(1000), true, `level ${level} closed`);
      // Safe: the connection is refused; the only difference from the statement is the missing CONNACK 1.
      assert.ok(!c.packets.some((p) => p.cmd === 'connack' && p.returnCode === 0), `level ${level} not accepted`);
    }
  });

  it('[MQTT-3.1.2-3] the reserved connect flag (bit 0) set: the server disconnects without CONNACK', async () => {
    const c = await raw();
    c.send(connectBytes('conf-reserved', { flags: 0x03 }));
    assert.equal(await c.closesWithin(1000), true);
    assert.deepEqual(c.packets, []);
  });

  it('[MQTT-3.1.2-4] [MQTT-3.1.2-5] [MQTT-3.2.2-2] CleanSession 0 resumes the session: session present 1, subscriptions kept, QoS 1 messages queued while away delivered', async () => {
    const a = await conn({ clientId: 'conf-persist', clean: false });
    assert.deepEqual(await a.client.subscribe([['conf/persist', 1]]), [1]);
    a.client.disconnect();
    await a.client.closed;
    const pub = await conn({ clientId: 'conf-persist-pub' });
    await pub.client.publish('conf/persist', 'while-away', { qos: 1 });
    const b = await conn({ clientId: 'conf-persist', clean: false });
    assert.equal(b.connack.returnCode, 0);
    assert.equal(b.connack.sessionPresent, true);
    const m = await b.client.next('publish');
    assert.equal(m.payload.toString(), 'while-away');
    assert.equal(m.qos, 1);
    assert.equal(m.dup, false, 'queued while away, so sent for the first time: DUP 0');
    // The subscription is part of the session: a message published now arrives too.
    await pub.client.publish('conf/persist', 'now', { qos: 1 });
    assert.equal((await b.client.next('publish')).payload.toString(), 'now');
  });

  it('[MQTT-3.2.0-1] the first packet a resumed session receives is CONNACK, even with messages queued', async () => {
    const a = await conn({ clientId: 'conf-first', clean: false });
    await a.client.subscribe([['conf/first', 1]]);
    a.client.disconnect();
    await a.client.closed;
    const pub = await conn({ clientId: 'conf-first-pub' });
    for (let i = 0; i < 5; i++) await pub.client.publish('conf/first', `m${i}`, { qos: 1 });
    const b = await raw();
    b.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, keepalive: 30, clean: false, clientId: 'conf-first' });
    await b.next('publish', (p) => p.payload.toString() === 'm4');
    assert.equal(b.packets[0]?.cmd, 'connack', `order: ${b.packets.map((p) => p.cmd).join(',')}`);
    assert.equal((b.packets[0] as mqttPacket.IConnackPacket).sessionPresent, true);
  });

  it('[MQTT-3.1.2-6] [MQTT-3.2.2-1] CleanSession 1 discards the previous session: session present 0, nothing queued, subscriptions gone', async () => {
    const a = await conn({ clientId: 'conf-clean', clean: false });
    await a.client.subscribe([['conf/clean', 1]]);
    a.client.disconnect();
    await a.client.closed;
    const pub = await conn({ clientId: 'conf-clean-pub' });
    await pub.client.publish('conf/clean', 'queued', { qos: 1 });
    const b = await conn({ clientId: 'conf-clean', clean: true });
    assert.equal(b.connack.returnCode, 0);
    assert.equal(b.connack.sessionPresent, false);
    await pub.client.publish('conf/clean', 'after', { qos: 1 });
    await sleep(150);
    assert.deepEqual(b.client.take(), [], 'neither the queued message nor the old subscription survived');
    // And the discarded session does not come back for a later CleanSession 0.
    b.client.disconnect();
    await b.client.closed;
    const c = await conn({ clientId: 'conf-clean', clean: false });
    assert.equal(c.connack.sessionPresent, false);
  });

  it('[MQTT-3.2.2-3] CleanSession 0 with no stored session: session present 0', async () => {
    const { connack } = await conn({ clientId: 'conf-fresh-persistent', clean: false });
    assert.equal(connack.returnCode, 0);
    assert.equal(connack.sessionPresent, false);
  });

  it('[MQTT-3.1.4-2] a CONNECT with the ClientId of a connected client disconnects the existing one', async () => {
    const a = await conn({ clientId: 'conf-takeover' });
    const b = await conn({ clientId: 'conf-takeover' });
    assert.equal(b.connack.returnCode, 0);
    assert.equal(await a.client.closesWithin(1000), true, 'the older connection is closed');
    assert.equal(b.client.isClosed, false, 'the new one stays');
    b.client.send({ cmd: 'pingreq' });
    await b.client.next('pingresp');
  });

  it('[MQTT-3.1.2-8] [MQTT-3.1.2-9] the will is published, with its QoS, when the connection closes abnormally', async () => {
    const sub = await conn({ clientId: 'conf-will-sub' });
    await sub.client.subscribe([['conf/will/+', 1]]);
    const dying = await conn({ clientId: 'conf-will', will: { topic: 'conf/will/a', payload: Buffer.from('gone'), qos: 1, retain: false } });
    assert.equal(dying.connack.returnCode, 0);
    dying.client.destroy();
    const w = await sub.client.next('publish', (p) => p.topic === 'conf/will/a');
    assert.equal(w.payload.toString(), 'gone');
    assert.equal(w.qos, 1);
    assert.equal(w.retain, false);
  });

  it('[MQTT-3.1.2-17] a will with Will Retain 1 is published as a retained message (on a non-reading topic)', async () => {
    const dying = await conn({ clientId: 'conf-will-ret', will: { topic: 'conf/will-retained', payload: Buffer.from('offline'), qos: 0, retain: true } });
    dying.client.destroy();
    await sleep(100);
    const late = await conn({ clientId: 'conf-will-ret-sub' });
    await late.client.subscribe([['conf/will-retained', 0]]);
    const m = await late.client.next('publish');
    assert.equal(m.payload.toString(), 'offline');
    assert.equal(m.retain, true);
    // Clean up the retained message for the other tests.
    await late.client.publish('conf/will-retained', '', { retain: true });
  });

  it('[MQTT-3.1.2-10] [MQTT-3.14.4-3] after DISCONNECT the will is discarded, not published', async () => {
    const sub = await conn({ clientId: 'conf-nowill-sub' });
    await sub.client.subscribe([['conf/nowill', 0]]);
    const leaving = await conn({ clientId: 'conf-nowill', will: { topic: 'conf/nowill', payload: Buffer.from('should-not'), qos: 0, retain: false } });
    leaving.client.disconnect();
    await leaving.client.closed;
    await sleep(200);
    assert.deepEqual(sub.client.take('conf/nowill'), []);
    // The will is gone from the session too: a later abnormal close of the same id without a will publishes nothing.
    const again = await conn({ clientId: 'conf-nowill', clean: true });
    again.client.destroy();
    await sleep(200);
    assert.deepEqual(sub.client.take('conf/nowill'), []);
  });

  it('[MQTT-3.1.2-24] no packet within 1.5 x keep alive (1 s): the server disconnects, and publishes the will', async () => {
    const sub = await conn({ clientId: 'conf-ka-sub' });
    await sub.client.subscribe([['conf/ka', 0]]);
    const t0 = Date.now();
    const silentClient = await conn({ clientId: 'conf-ka', keepalive: 1, will: { topic: 'conf/ka', payload: Buffer.from('timed-out'), qos: 0, retain: false } });
    assert.equal(await silentClient.client.closesWithin(1200 - (Date.now() - t0)), false, 'not before 1.2 s');
    const closedAt = await Promise.race([silentClient.client.closed, sleep(800).then(() => 0)]);
    assert.ok(closedAt > 0, 'closed by 2 s');
    assert.ok(closedAt - t0 >= 1400, `closed after ${closedAt - t0} ms`);
    const w = await sub.client.next('publish', (p) => p.topic === 'conf/ka');
    assert.equal(w.payload.toString(), 'timed-out');
  });

  it('[MQTT-3.1.2-24] a client that sends PINGREQ within the keep alive stays connected past 1.5 x keep alive', async () => {
    const { client } = await conn({ clientId: 'conf-ka-alive', keepalive: 1 });
    for (let i = 0; i < 3; i++) {
      await sleep(600);
      client.send({ cmd: 'pingreq' });
      await client.next('pingresp');
    }
    assert.equal(client.isClosed, false);
  });

  it('[MQTT-3.12.4-1] PINGREQ is answered with PINGRESP', async () => {
    const { client } = await conn({ clientId: 'conf-ping' });
    client.send({ cmd: 'pingreq' });
    const p = await client.next('pingresp');
    assert.equal(p.cmd, 'pingresp');
  });

  it('[MQTT-3.14.1-1] [MQTT-2.2.2-2] a DISCONNECT with reserved header flags set is a protocol violation: the connection is closed and the will published', async () => {
    const sub = await conn({ clientId: 'conf-baddisc-sub' });
    await sub.client.subscribe([['conf/baddisc', 0]]);
    const c = await conn({ clientId: 'conf-baddisc', will: { topic: 'conf/baddisc', payload: Buffer.from('w'), qos: 0, retain: false } });
    c.client.send([0xe1, 0x00]);
    assert.equal(await c.client.closesWithin(1000), true);
    // Not a real DISCONNECT, so the will is not discarded [MQTT-3.1.2-8].
    await sub.client.next('publish', (p) => p.topic === 'conf/baddisc');
  });

  it('[MQTT-4.4.0-1] [MQTT-3.3.1-1] an unacknowledged QoS 1 delivery is sent again with DUP 1 when the persistent session reconnects', async () => {
    const a = await conn({ clientId: 'conf-redeliver', clean: false });
    await a.client.subscribe([['conf/redeliver', 1]]);
    const pub = await conn({ clientId: 'conf-redeliver-pub' });
    await pub.client.publish('conf/redeliver', 'once', { qos: 1 });
    const first = await a.client.next('publish');
    assert.equal(first.dup, false);
    // No PUBACK: drop the connection.
    a.client.destroy();
    await a.client.closed;
    const b = await conn({ clientId: 'conf-redeliver', clean: false });
    assert.equal(b.connack.sessionPresent, true);
    const again = await b.client.next('publish');
    assert.equal(again.payload.toString(), 'once');
    assert.equal(again.dup, true);
    assert.equal(again.messageId, first.messageId);
    b.client.send({ cmd: 'puback', messageId: again.messageId! });
    // Acknowledged now: not sent a third time.
    b.client.disconnect();
    await b.client.closed;
    const c = await conn({ clientId: 'conf-redeliver', clean: false });
    await sleep(150);
    assert.deepEqual(c.client.take(), []);
  });

  it('[MQTT-1.5.3-2] a ClientId containing U+0000 is refused: the connection is closed without CONNACK 0', async () => {
    const c = await raw();
    c.send(connectBytes(Buffer.from([0x61, 0x00, 0x62])));
    assert.equal(await c.closesWithin(1000), true);
    assert.ok(!c.packets.some((p) => p.cmd === 'connack' && p.returnCode === 0));
  });

  it('[MQTT-1.5.3-1] a ClientId that is ill-formed UTF-8 (a lone continuation byte, an encoded surrogate) is refused: closed without CONNACK 0', async () => {
    for (const bad of [Buffer.from([0x61, 0x80, 0x62]), Buffer.from([0x61, 0xed, 0xa0, 0x80])]) {
      const c = await raw();
      c.send(connectBytes(bad));
      assert.equal(await c.closesWithin(1000), true, bad.toString('hex'));
      assert.ok(!c.packets.some((p) => p.cmd === 'connack' && p.returnCode === 0), bad.toString('hex'));
    }
  });
});

describe('MQTT 3.1.1 conformance: CONNECT refused by the registry policy', function () {
  this.timeout(5000);
  let broker: RunningBroker;
  let policy: RegistryPolicy;
  let secret: string;
  let gwSecret: string;
  const open: RawClient[] = [];

  before(async () => {
    const registry = new Registry();
    secret = (await registry.addDevice('cd1', 'cp1', ['hr'], FAST)).secret;
    gwSecret = (await registry.addGateway('cgw', ['cp1'], FAST)).secret;
    policy = createRegistryPolicy(registry, { logger: silent });
    broker = await startBroker({ port: 0, policy, logger: silent });
  });
  afterEach(() => {
    for (const c of open.splice(0)) c.destroy();
  });
  after(async () => {
    policy.close();
    await broker.close();
  });

  it('[MQTT-3.2.2-4] [MQTT-3.2.2-5] [MQTT-3.1.4-5] a refused CONNECT (bad password) gets CONNACK 4 with session present 0, the connection is closed, and a PUBLISH sent right after CONNECT is not processed', async () => {
    // The gateway has a stored session, so "session present" would be 1 if the CONNECT were accepted.
    const gw = await RawClient.connect(broker.port, { clientId: 'cgw', username: 'cgw', password: Buffer.from(gwSecret), clean: false });
    open.push(gw.client);
    assert.deepEqual(await gw.client.subscribe([['vg/v1/cp1/+/+', 1]]), [1]);
    gw.client.disconnect();
    await gw.client.closed;
    const watcher = await RawClient.connect(broker.port, { clientId: 'cgw', username: 'cgw', password: Buffer.from(gwSecret), clean: false });
    open.push(watcher.client);
    assert.equal(watcher.connack.sessionPresent, true, 'the session exists');

    const c = await RawClient.open(broker.port);
    open.push(c);
    // CONNECT with a wrong password, and a PUBLISH in the same write (pipelined before the CONNACK).
    c.send(Buffer.concat([
      mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, keepalive: 30, clean: false, clientId: 'cgw', username: 'cgw', password: Buffer.from('wrong') }),
      mqttPacket.generate({ cmd: 'publish', topic: 'vg/v1/cp1/cd1/hr', payload: Buffer.from('{"forged":1}'), qos: 1, messageId: 7, retain: false, dup: false }),
    ]));
    const connack = await c.next('connack');
    assert.equal(connack.returnCode, 4);
    assert.equal(connack.sessionPresent, false);
    assert.equal(await c.closesWithin(1000), true);
    assert.ok(!c.packets.some((p) => p.cmd === 'puback'), 'the PUBLISH after the refused CONNECT was not acknowledged');
    await sleep(150);
    assert.deepEqual(watcher.client.take(), [], 'nor delivered');
    assert.equal(watcher.client.isClosed, false, 'a refused CONNECT does not take the session over');
  });

  it('[MQTT-3.1.3-9] a ClientId that is not the username is rejected with CONNACK 2 and closed', async () => {
    const c = await RawClient.open(broker.port);
    open.push(c);
    c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, keepalive: 30, clean: true, clientId: 'cd1-other', username: 'cd1', password: Buffer.from(secret) });
    const connack = await c.next('connack');
    assert.equal(connack.returnCode, 2);
    assert.equal(connack.sessionPresent, false);
    assert.equal(await c.closesWithin(1000), true);
  });

  it('[MQTT-3.1.2-8] a will is only stored if the ACL allows it (Vitalgate rule, see session-rules.test.ts): a will on another patient is refused with CONNACK 5', async () => {
    const c = await RawClient.open(broker.port);
    open.push(c);
    c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, keepalive: 30, clean: true, clientId: 'cd1', username: 'cd1', password: Buffer.from(secret), will: { topic: 'vg/v1/cp2/cd1/hr', payload: Buffer.from('{}'), qos: 1, retain: false } });
    const connack = await c.next('connack');
    assert.equal(connack.returnCode, 5);
    assert.equal(await c.closesWithin(1000), true);
  });
});
