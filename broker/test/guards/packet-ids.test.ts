/**
 * [MQTT-2.3.1-1] The broker never gives a new publish a packet id that the client's resumed session
 * still holds. aedes starts each connection's counter at a random id; here both connections are
 * made to start at the same one, so without the fix the live publishes of the second connection
 * reuse the ids of the replayed ones, and acknowledging the live ones deletes the replayed ones
 * from the session: messages the client never acknowledged are gone.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import mqttPacket, { type Packet, type IPublishPacket } from 'mqtt-packet';
import { startBroker, type RunningBroker } from '../../src/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A raw MQTT 3.1.1 client that acknowledges only what it is told to. */
async function rawClient(port: number, clientId: string): Promise<{ sock: Socket; publishes: IPublishPacket[]; send: (p: Packet) => void; close: () => Promise<void> }> {
  const sock = connect(port, '127.0.0.1');
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const publishes: IPublishPacket[] = [];
  let connack: (() => void) | undefined;
  let suback: (() => void) | undefined;
  parser.on('packet', (p: Packet) => {
    if (p.cmd === 'publish') publishes.push(p);
    if (p.cmd === 'connack') connack?.();
    if (p.cmd === 'suback') suback?.();
  });
  sock.on('data', (d) => parser.parse(d));
  const send = (p: Packet) => sock.write(mqttPacket.generate(p));
  await new Promise<void>((r) => sock.once('connect', () => r()));
  const connected = new Promise<void>((r) => (connack = r));
  send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: false, clientId, keepalive: 30 });
  await connected;
  const subscribed = new Promise<void>((r) => (suback = r));
  send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'ids/#', qos: 1 }] });
  await subscribed;
  return { sock, publishes, send, close: () => new Promise<void>((r) => { sock.once('close', () => r()); sock.destroy(); }) };
}

async function waitFor(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('broker: packet ids of a resumed session [MQTT-2.3.1-1]', function () {
  this.timeout(30_000);
  let broker: RunningBroker;
  const random = Math.random;

  beforeEach(async () => {
    broker = await startBroker({ port: 0 });
  });
  afterEach(async () => {
    Math.random = random;
    await broker.close();
  });

  it('live publishes never reuse an id the session still holds, so acknowledging them removes nothing else', async () => {
    Math.random = () => 0.5; // every connection's counter starts at the same id
    const publisher = await rawClient(broker.port, 'ids-publisher');
    const pub = (n: number) => publisher.send({ cmd: 'publish', topic: `ids/${n}`, payload: Buffer.from(String(n)), qos: 1, messageId: n + 1, retain: false, dup: false });

    const first = await rawClient(broker.port, 'ids-gateway');
    for (let n = 0; n < 200; n++) pub(n);
    await waitFor(() => first.publishes.length === 200, '200 publishes on the first connection');
    await first.close(); // nothing acknowledged

    const second = await rawClient(broker.port, 'ids-gateway');
    for (let n = 200; n < 400; n++) pub(n);
    await waitFor(() => second.publishes.length >= 400, 'replayed and live publishes on the second connection');
    const replayed = second.publishes.filter((p) => Number(p.payload.toString()) < 200);
    const live = second.publishes.filter((p) => Number(p.payload.toString()) >= 200);
    assert.equal(replayed.length, 200);
    assert.equal(live.length, 200);
    const ids = second.publishes.map((p) => p.messageId);
    assert.equal(new Set(ids).size, ids.length, 'every unacknowledged packet has its own id');

    // Acknowledge only the live ones, then drop the connection: the replayed ones must still be queued.
    for (const p of live) second.send({ cmd: 'puback', messageId: p.messageId! });
    await sleep(200);
    await second.close();
    const third = await rawClient(broker.port, 'ids-gateway');
    await waitFor(() => third.publishes.length >= 200, 'the unacknowledged 200 again', 5_000).catch(() => undefined);
    assert.deepEqual(third.publishes.map((p) => Number(p.payload.toString())).sort((a, b) => a - b), Array.from({ length: 200 }, (_, i) => i));
    await third.close();
    await publisher.close();
  });
});
