/**
 * Broker processes (`vitalgate broker --redis`) sharing a real Redis (Debian's redis-server on
 * loopback): a device on one instance reaches a gateway on the other, and when an instance is
 * SIGKILLed mid-stream its clients reconnect to the other and nothing acknowledged is lost.
 *
 * Failover used to lose nearly everything published during it in some runs. The cause: the
 * surviving instance, restoring the gateway's session, subscribed it before writing CONNACK, so a
 * publish arriving in between went out ahead of the CONNACK; MQTT.js then never finished
 * connecting (it parks that publish's PUBACK until connected, and reads nothing after it). The
 * backlog was safe in Redis but never delivered. redisBackends() now holds such writes until the
 * CONNACK is out, and stores each QoS 1 message before the PUBACK (see delivery-guards.ts). These
 * tests check both, including that the first packet on every connection is the CONNACK.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import { freePort, requireProgram } from '@vitalgate/test-support';
import { Device, sleep, startCliBroker, startRedis, Subscriber, type Proc } from '../support.js';

describe('broker cluster through Redis', function () {
  this.timeout(90_000);
  const procs: Proc[] = [];
  let redisUrl = '';

  before(async function () {
    const redis = requireProgram(this, 'redis-server', 'redis-server');
    const rp = await freePort();
    procs.push(await startRedis(redis, rp));
    redisUrl = `redis://127.0.0.1:${rp}`;
  });
  after(async () => {
    await Promise.all(procs.map((p) => p.kill('SIGKILL')));
  });

  /** Two fresh broker instances; A is the one a test may kill. */
  async function pair(): Promise<{ a: Proc; b: Proc; urlA: string; urlB: string }> {
    const [pa, pb] = [await freePort(), await freePort()];
    const a = await startCliBroker(pa, redisUrl);
    const b = await startCliBroker(pb, redisUrl);
    procs.push(a, b);
    return { a, b, urlA: `mqtt://127.0.0.1:${pa}`, urlB: `mqtt://127.0.0.1:${pb}` };
  }

  it("delivers a device's QoS 1 publishes on one instance to a gateway on the other, in both directions", async () => {
    const { a, b, urlA, urlB } = await pair();
    for (const [devUrl, gwUrl] of [[urlA, urlB], [urlB, urlA]] as const) {
      const got = new Set<number>();
      const gw = await mqtt.connectAsync(gwUrl, { clientId: `gw-${randomBytes(3).toString('hex')}`, clean: false });
      gw.on('message', (_t, m) => got.add((JSON.parse(m.toString()) as { seq: number }).seq));
      await gw.subscribeAsync('vg/v1/+/+/+', { qos: 1 });
      const dev = await mqtt.connectAsync(devUrl, { clientId: `dev-${randomBytes(3).toString('hex')}` });
      for (let s = 0; s < 300; s++) await dev.publishAsync('vg/v1/p/dev/hr', JSON.stringify({ seq: s }), { qos: 1 });
      const t0 = Date.now();
      while (got.size < 300 && Date.now() - t0 < 10_000) await sleep(50);
      assert.equal(got.size, 300, `device on ${devUrl} → gateway on ${gwUrl}`);
      await dev.endAsync();
      await gw.endAsync();
    }
    await Promise.all([a.kill('SIGTERM'), b.kill('SIGTERM')]);
  });

  /**
   * The gateway-like subscriber starts on `subOn`, the device on `devOn`; instance A is SIGKILLed
   * while the device publishes (about 500 msg/s, 10 in flight). Whoever was on A reconnects to B
   * with the same clientId. Every message the device got a PUBACK for must reach the subscriber.
   */
  async function failover(subOn: 'A' | 'B', devOn: 'A' | 'B'): Promise<void> {
    const { a, b, urlA, urlB } = await pair();
    const tag = randomBytes(3).toString('hex');
    const order = (first: 'A' | 'B') => (first === 'A' ? [urlA, urlB] : [urlB, urlA]);
    const sub = new Subscriber(`gw-${tag}`, order(subOn), `vg/v1/p-${tag}/+/+`);
    const dev = new Device(`dev-${tag}`, order(devOn), `vg/v1/p-${tag}/dev/hr`);
    try {
      await sub.start();
      await dev.connect();
      dev.start(2);
      await sleep(800);
      const before = dev.acked.size;
      await a.kill('SIGKILL');
      await sleep(1500);
      await dev.stopPublishing();
      assert.ok(before > 100 && dev.acked.size > before + 100, `the device kept publishing across the kill (${before} → ${dev.acked.size} acked)`);
      const missing = await sub.waitFor(dev.acked, 15_000);
      assert.deepEqual(missing.slice(0, 20), [], `${missing.length} of ${dev.acked.size} acknowledged messages never reached the subscriber`);
      assert.ok(sub.firstPackets.every((c) => c === 'connack'), `first packet on each connection: ${sub.firstPackets.join(', ')}`);
      if (subOn === 'A') assert.ok(sub.connects >= 2, 'the subscriber reconnected to B');
    } finally {
      await dev.stop();
      await sub.stop();
      await b.kill('SIGTERM');
    }
  }

  it('SIGKILL of the subscriber\'s instance: it reconnects to the other and gets every acknowledged message (device on B)', async () => {
    await failover('A', 'B');
  });

  it('SIGKILL of the device\'s instance: nothing it acknowledged is lost (device on A, subscriber on B)', async () => {
    await failover('B', 'A');
  });

  it('SIGKILL of the instance both are on: both move to the other, nothing acknowledged is lost', async () => {
    await failover('A', 'A');
  });
});
