/**
 * Persistent sessions and QoS 1 messages survive a broker restart. A gateway-like subscriber
 * (clean: false, QoS 1, fixed clientId) that is offline while a device publishes, across a broker
 * stop (SIGTERM) or kill (SIGKILL) and restart, receives every message it missed when it comes
 * back: in order and, after dropping redeliveries, exactly once. Also with the broker SIGKILLed
 * while messages are flowing: nothing the device got a PUBACK for is lost.
 *
 * Two deployments:
 * - single node on the durable file persistence (src/persistence/file/), through the test launcher
 *   fixtures/durable-broker.ts (what `vitalgate broker --persistence-dir` will run);
 * - `vitalgate broker --redis` with redis-server kept running (append-only file, fsync always).
 *   The backlog there is larger than 1001 messages, aedes-persistence-redis' old replay limit.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, requireProgram } from '@vitalgate/test-support';
import { Device, DURABLE_LAUNCHER, firstArrivals, sleep, startCliBroker, startProcess, startRedis, Subscriber, type Proc } from '../support.js';

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

interface Deployment {
  /** Starts (or restarts) the broker on `port`. */
  start(port: number): Promise<Proc>;
}

function restartSuite(name: string, deployment: () => Deployment, batch: number): void {
  describe(name, function () {
    this.timeout(60_000);
    const live: Proc[] = [];
    afterEach(async () => {
      await Promise.all(live.splice(0).map((p) => p.kill('SIGKILL')));
    });

    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      it(`an offline persistent subscriber gets everything published before and after a ${signal} restart, in order, exactly once`, async () => {
        const d = deployment();
        const port = await freePort();
        const url = `mqtt://127.0.0.1:${port}`;
        const tag = randomBytes(3).toString('hex');
        let broker = await d.start(port);
        live.push(broker);
        const sub = new Subscriber(`gw-${tag}`, [url], `vg/v1/p-${tag}/+/+`);
        await sub.start();
        await sub.pause(); // DISCONNECT: the session stays, and the broker queues for it
        let dev = new Device(`dev-${tag}`, [url], `vg/v1/p-${tag}/dev/hr`);
        await dev.connect();
        await dev.publishSerially(batch);
        await dev.stop();

        await broker.kill(signal);
        broker = await d.start(port);
        live.push(broker);

        dev = new Device(`dev-${tag}`, [url], `vg/v1/p-${tag}/dev/hr`);
        dev.seq = batch;
        await dev.connect();
        await dev.publishSerially(batch);
        await dev.stop();

        await sub.resume();
        const missing = await sub.waitFor(range(2 * batch), 20_000);
        await sub.stop();
        assert.deepEqual(missing, [], `missing after the restart: ${missing.length}`);
        assert.deepEqual(firstArrivals(sub.arrivals), range(2 * batch), 'in publish order');
        assert.equal(sub.arrivals.length, 2 * batch, 'no redeliveries either');
        assert.deepEqual(sub.firstPackets, ['connack', 'connack']);
      });
    }

    it('SIGKILL while messages flow: after the restart every acknowledged message arrives', async () => {
      const d = deployment();
      const port = await freePort();
      const url = `mqtt://127.0.0.1:${port}`;
      const tag = randomBytes(3).toString('hex');
      let broker = await d.start(port);
      live.push(broker);
      const sub = new Subscriber(`gw-${tag}`, [url], `vg/v1/p-${tag}/+/+`, 100);
      const dev = new Device(`dev-${tag}`, [url], `vg/v1/p-${tag}/dev/hr`, 20);
      try {
        await sub.start();
        await dev.connect();
        dev.start(1);
        await sleep(1000);
        const before = dev.acked.size;
        await broker.kill('SIGKILL');
        broker = await d.start(port);
        live.push(broker);
        await sleep(1000);
        await dev.stopPublishing();
        assert.ok(before > 100 && dev.acked.size > before + 100, `published on both sides of the kill (${before}, ${dev.acked.size})`);
        const missing = await sub.waitFor(dev.acked, 20_000);
        assert.deepEqual(missing.slice(0, 20), [], `${missing.length} of ${dev.acked.size} acknowledged messages lost`);
        assert.ok(sub.firstPackets.every((c) => c === 'connack'), sub.firstPackets.join());
      } finally {
        await dev.stop();
        await sub.stop();
      }
    });
  });
}

describe('broker restart', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vg-broker-restart-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  restartSuite(
    'single node, durable file persistence',
    () => {
      const data = join(dir, randomBytes(4).toString('hex'));
      return { start: (port) => startProcess(process.execPath, [DURABLE_LAUNCHER, String(port), data], /"event":"listening"/) };
    },
    400,
  );

  describe('cluster mode (vitalgate broker --redis), Redis kept running', function () {
    let redisUrl = '';
    let redis: Proc | undefined;
    before(async function () {
      const server = requireProgram(this, 'redis-server', 'redis-server');
      const rp = await freePort();
      redis = await startRedis(server, rp, dir);
      redisUrl = `redis://127.0.0.1:${rp}`;
    });
    after(async () => {
      await redis?.kill('SIGTERM');
    });
    restartSuite('one instance restarted', () => ({ start: (port) => startCliBroker(port, redisUrl) }), 600);
  });
});
