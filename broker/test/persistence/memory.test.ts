import assert from 'node:assert/strict';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { MemoryPersistence, startBroker, type PersistedPacket, type RunningBroker } from '../../src/index.js';

const TOPIC_FILTER = 'vg/v1/+/+/+';
const GATEWAY_ID = 'gateway-persistent';

/** Packets queued for a client in the broker's persistence (what it would redeliver on reconnect). */
async function queued(broker: RunningBroker, clientId: string): Promise<PersistedPacket[]> {
  const out: PersistedPacket[] = [];
  for await (const p of broker.persistence.outgoingStream({ id: clientId })) out.push(p as PersistedPacket);
  return out;
}

async function waitFor(cond: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * A persistent-session subscriber. The message listener is attached before CONNACK: queued
 * messages can arrive in the same read as the CONNACK, before connectAsync() would resolve.
 */
async function gateway(url: string, received: string[], extra: IClientOptions = {}): Promise<MqttClient> {
  const client = mqtt.connect(url, { clientId: GATEWAY_ID, clean: false, reconnectPeriod: 0, ...extra });
  client.on('message', (_t, m) => received.push(m.toString()));
  await connected(client);
  return client;
}

async function publishAll(pub: MqttClient, payloads: string[]): Promise<void> {
  await Promise.all(payloads.map((p) => pub.publishAsync('vg/v1/p1/d1/hr', p, { qos: 1 })));
}

const connected = (c: MqttClient): Promise<void> =>
  new Promise((resolve, reject) => {
    c.once('connect', () => resolve());
    c.once('error', reject);
  });

const range = (from: number, to: number): string[] => Array.from({ length: to - from }, (_, i) => String(from + i));

describe('broker persistence (MemoryPersistence)', () => {
  let broker: RunningBroker;
  beforeEach(async () => {
    broker = await startBroker({ port: 0 });
  });
  afterEach(async () => {
    await broker.close();
  });

  it('is the default persistence of startBroker', () => {
    assert.ok(broker.persistence instanceof MemoryPersistence);
  });

  it('redelivers everything published while a persistent subscriber was offline, in order', async () => {
    const received: string[] = [];
    const gw = await gateway(broker.url, received);
    await gw.subscribeAsync(TOPIC_FILTER, { qos: 1 });
    await gw.endAsync();

    const pub = await mqtt.connectAsync(broker.url, { clientId: 'device-1' });
    const sent = range(0, 3000);
    await publishAll(pub, sent);
    assert.equal((await queued(broker, GATEWAY_ID)).length, sent.length);

    const again = await gateway(broker.url, received);
    await waitFor(() => received.length >= sent.length, 'the offline backlog');
    assert.deepEqual(received, sent);

    // Live messages after the backlog keep flowing, and every PUBACK empties the queue.
    const live = range(3000, 4000);
    await publishAll(pub, live);
    await waitFor(() => received.length >= sent.length + live.length, 'live messages');
    assert.deepEqual(received, [...sent, ...live]);
    await waitFor(async () => (await queued(broker, GATEWAY_ID)).length === 0, 'the queue to empty');
    await Promise.all([again.endAsync(), pub.endAsync()]);
  });

  it('does not redeliver acknowledged messages; redelivers exactly the unacknowledged ones', async () => {
    const ACKED = 700;
    const sent = range(0, 2000);
    let acks = 0;
    broker.aedes.on('ack', () => acks++);

    const gw0 = await gateway(broker.url, []);
    await gw0.subscribeAsync(TOPIC_FILTER, { qos: 1 });
    await gw0.endAsync();
    const pub = await mqtt.connectAsync(broker.url, { clientId: 'device-1' });
    await publishAll(pub, sent);

    // Reconnect, PUBACK only the first ACKED messages, then drop the connection. mqtt.js sends a
    // PUBACK when handleMessage calls back; never calling back also stalls its input, so the rest
    // stay unread and unacknowledged.
    const first: string[] = [];
    const gw1 = mqtt.connect(broker.url, { clientId: GATEWAY_ID, clean: false, reconnectPeriod: 0 });
    gw1.handleMessage = (packet, callback) => {
      first.push(packet.payload.toString());
      if (first.length <= ACKED) callback();
    };
    await connected(gw1);
    await waitFor(() => acks >= ACKED, 'the PUBACKs');
    await gw1.endAsync(true);
    assert.deepEqual(first.slice(0, ACKED), sent.slice(0, ACKED));

    const second: string[] = [];
    const gw2 = await gateway(broker.url, second);
    await waitFor(() => second.length >= sent.length - ACKED, 'the redelivery');
    await new Promise((r) => setTimeout(r, 200)); // nothing more may arrive
    assert.deepEqual(second, sent.slice(ACKED));
    await waitFor(async () => (await queued(broker, GATEWAY_ID)).length === 0, 'the queue to empty');

    // And once everything is acknowledged, a reconnect delivers nothing.
    await gw2.endAsync();
    const third: string[] = [];
    const gw3 = await gateway(broker.url, third);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(third, []);
    await Promise.all([gw3.endAsync(), pub.endAsync()]);
  });

  it('overlapping subscriptions: each message once, nothing left queued, no disconnect', async () => {
    // aedes enqueues one copy per matching subscription, sends one and clears the other with a
    // packet that has no messageId (see outgoingClearMessageId).
    const received: string[] = [];
    const gw = await gateway(broker.url, received);
    let closed = false;
    gw.on('close', () => (closed = true));
    await gw.subscribeAsync({ [TOPIC_FILTER]: { qos: 1 }, 'vg/v1/#': { qos: 1 } });
    const pubs = await Promise.all([0, 1, 2, 3].map((i) => mqtt.connectAsync(broker.url, { clientId: `device-${i}` })));
    await Promise.all(pubs.map((pub, i) => publishAll(pub, range(i * 1000, i * 1000 + 1000))));
    await waitFor(() => received.length >= 4000, 'all messages');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(received.length, 4000);
    assert.equal(new Set(received).size, 4000);
    await waitFor(async () => (await queued(broker, GATEWAY_ID)).length === 0, 'the queue to empty');
    assert.equal(closed, false);
    await Promise.all([gw.endAsync(), ...pubs.map((p) => p.endAsync())]);
  });
});

describe('MemoryPersistence outgoing store', () => {
  const client = { id: 'gw' };
  const sub = { clientId: 'gw' };
  const fakeBroker = { id: 'broker-1', counter: 0, subscribe: () => undefined, unsubscribe: () => undefined };
  const publish = (counter: number, brokerId = 'broker-1'): PersistedPacket => ({
    cmd: 'publish',
    topic: 'vg/v1/p/d/hr',
    payload: Buffer.from(String(counter)),
    qos: 1,
    retain: false,
    brokerId,
    brokerCounter: counter,
  });
  const drain = async (p: MemoryPersistence): Promise<PersistedPacket[]> => {
    const out: PersistedPacket[] = [];
    for await (const x of p.outgoingStream(client)) out.push(x as PersistedPacket);
    return out;
  };

  let p: MemoryPersistence;
  beforeEach(async () => {
    p = new MemoryPersistence();
    await p.setup(fakeBroker);
  });
  afterEach(async () => {
    await p.destroy();
  });

  it('enqueue, update and clear 50k messages in adversarial order in well under 5 s (O(n), not O(n²))', async function () {
    this.timeout(30_000);
    const N = 50_000;
    const t0 = performance.now();
    for (let i = 1; i <= N; i++) await p.outgoingEnqueue(sub, publish(i));
    // Newest first: the worst case for a front-to-back scan.
    for (let i = N; i >= 1; i--) await p.outgoingUpdate(client, { ...publish(i), messageId: (i % 65535) + 1 });
    // Clear every odd one, newest first, then check what is left is in order.
    for (let i = N - 1; i >= 1; i -= 2) {
      const got = await p.outgoingClearMessageId(client, { messageId: (i % 65535) + 1 });
      assert.equal(got?.brokerCounter, i);
    }
    const left = await drain(p);
    assert.deepEqual(
      left.map((x) => x.brokerCounter),
      Array.from({ length: N / 2 }, (_, k) => 2 * k + 2),
    );
    for (const x of left) await p.outgoingClearMessageId(client, x);
    assert.equal((await drain(p)).length, 0);
    const ms = performance.now() - t0;
    assert.ok(ms < 5000, `took ${ms.toFixed(0)} ms`);
  });

  it('a PUBACK clears the first queued packet with that messageId, as the original scan does', async () => {
    // messageIds repeat after 65535 and across reconnects.
    for (const c of [1, 2, 3]) await p.outgoingEnqueue(sub, publish(c));
    await p.outgoingUpdate(client, { ...publish(3), messageId: 7 });
    await p.outgoingUpdate(client, { ...publish(1), messageId: 7 });
    assert.equal((await p.outgoingClearMessageId(client, { messageId: 7 }))?.brokerCounter, 1);
    assert.equal((await p.outgoingClearMessageId(client, { messageId: 7 }))?.brokerCounter, 3);
    assert.equal(await p.outgoingClearMessageId(client, { messageId: 7 }), undefined);
    assert.deepEqual((await drain(p)).map((x) => x.brokerCounter), [2]);
  });

  it('clearing without a messageId removes the unsent copy of that message only', async () => {
    await p.outgoingEnqueue(sub, publish(1)); // an older message, not yet sent
    await p.outgoingEnqueueCombi([sub, sub], publish(2)); // two copies: overlapping subscriptions
    await p.outgoingUpdate(client, { ...publish(2), messageId: 5 }); // one copy is sent
    const cleared = await p.outgoingClearMessageId(client, publish(2));
    assert.equal(cleared?.brokerCounter, 2);
    assert.equal(cleared?.messageId, undefined);
    assert.deepEqual(
      (await drain(p)).map((x) => [x.brokerCounter, x.messageId]),
      [
        [1, undefined],
        [2, 5],
      ],
    );
  });

  it('QoS 2: pubrel replaces its publish in place; a second flow does not touch the first', async () => {
    for (const c of [1, 2, 3]) await p.outgoingEnqueue(sub, publish(c));
    await p.outgoingUpdate(client, { ...publish(1), messageId: 10 });
    await p.outgoingUpdate(client, { ...publish(2), messageId: 11 });
    await p.outgoingUpdate(client, { cmd: 'pubrel', messageId: 10 });
    await p.outgoingUpdate(client, { cmd: 'pubrel', messageId: 11 });
    await p.outgoingUpdate(client, { cmd: 'pubrel', messageId: 10 }); // a repeated PUBREC
    assert.deepEqual(
      (await drain(p)).map((x) => [x.cmd, x.messageId]),
      [
        ['pubrel', 10],
        ['pubrel', 11],
        ['publish', undefined],
      ],
    );
    assert.equal((await p.outgoingClearMessageId(client, { messageId: 11 }))?.cmd, 'pubrel');
    await assert.rejects(p.outgoingUpdate(client, { ...publish(9), messageId: 12 }), /no such packet/);
  });
});
