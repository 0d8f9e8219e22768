/**
 * Robustness of the broker (startBroker + the registry policy) against bad and greedy clients:
 * malformed packets on raw sockets, oversize payloads, a connect flood, a subscriber that never
 * reads, and a client flooding publishes while well-behaved devices stream. In every case the
 * broker stays up and well-behaved clients keep being served.
 *
 * Weaknesses these tests found have fixes in modules of their own, tested here, to be wired into
 * the broker and the CLI: packet-guard.ts (aedes buffers a packet of any declared size, up to
 * 256 MiB, even before CONNECT), auth-guard.ts (a client reconnecting in a loop costs a scrypt per
 * attempt) and TCP_NODELAY on the broker's connections (see the load test).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect as netConnect, type AddressInfo, type Server, type Socket } from 'node:net';
import fc from 'fast-check';
import mqtt, { type MqttClient } from 'mqtt';
import pino from 'pino';
import { limitConnectAttempts, type ConnectLimitOptions } from '../../../src/guards/auth-guard.js';
import { limitPacketSize } from '../../../src/guards/packet-guard.js';
import { createRegistryPolicy, Registry, startBroker, type RegistryPolicy, type RunningBroker } from '../../../src/index.js';

const FAST = { scrypt: { N: 1 << 10, r: 8, p: 1, dkLen: 32 } };
const silent = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- hand-made MQTT 3.1.1 packets (no dependency on a packet library) ------------------------

function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let d = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) d |= 0x80;
    out.push(d);
  } while (n > 0);
  return out;
}
const str = (s: string | Buffer): Buffer => {
  const b = Buffer.isBuffer(s) ? s : Buffer.from(s, 'utf8');
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
};
const packet = (firstByte: number, body: Buffer): Buffer => Buffer.concat([Buffer.from([firstByte, ...varint(body.length)]), body]);

function connectPacket(o: { clientId: string; username?: string; password?: string; protocol?: string; level?: number; keepalive?: number }): Buffer {
  const flags = 0x02 | (o.username !== undefined ? 0x80 : 0) | (o.password !== undefined ? 0x40 : 0);
  const keepalive = o.keepalive ?? 30;
  return packet(
    0x10,
    Buffer.concat([
      str(o.protocol ?? 'MQTT'),
      Buffer.from([o.level ?? 4, flags, keepalive >> 8, keepalive & 0xff]),
      str(o.clientId),
      ...(o.username !== undefined ? [str(o.username)] : []),
      ...(o.password !== undefined ? [str(o.password)] : []),
    ]),
  );
}
const publishPacket = (topic: string, payload: Buffer | string): Buffer => packet(0x30, Buffer.concat([str(topic), Buffer.from(payload)]));
const subscribePacket = (topic: string, qos: number, id = 1): Buffer => packet(0x82, Buffer.concat([Buffer.from([id >> 8, id & 0xff]), str(topic), Buffer.from([qos])]));

interface RawResult {
  closed: boolean;
  /** ms from the write to the broker closing the connection */
  ms: number;
  received: Buffer;
}

/** Sends `bytes` on a fresh socket and waits (up to `waitMs`) for the broker to close it. */
function raw(port: number, bytes: Buffer | Buffer[], waitMs: number, halfClose = false): Promise<RawResult> {
  return new Promise((resolve) => {
    const s = netConnect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let t0 = 0;
    const done = (closed: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve({ closed, ms: performance.now() - t0, received: Buffer.concat(chunks) });
    };
    const timer = setTimeout(() => done(false), waitMs);
    s.on('data', (d) => chunks.push(d));
    s.on('error', () => undefined);
    s.on('close', () => done(true));
    s.once('connect', () => {
      t0 = performance.now();
      for (const b of Array.isArray(bytes) ? bytes : [bytes]) s.write(b);
      if (halfClose) s.end();
    });
  });
}

/**
 * Opens one connection per payload from a separate process (so the flood does not wait on the
 * broker's event loop, as a real attacker would not), writes it, and reports for each whether the
 * broker closed the connection within `waitMs` and the first bytes it replied.
 */
function floodFromChild(port: number, payloads: Buffer[], waitMs: number): Promise<Array<{ closed: boolean; reply: string }>> {
  const code = `const net = require('node:net');
    const [port, waitMs, hex] = process.argv.slice(1);
    const payloads = hex.split(',');
    const out = payloads.map(() => ({ closed: false, reply: '' }));
    let left = payloads.length;
    const finish = () => { process.stdout.write(JSON.stringify(out)); process.exit(0); };
    setTimeout(finish, Number(waitMs));
    payloads.forEach((h, i) => {
      const s = net.connect(Number(port), '127.0.0.1', () => { if (h) s.write(Buffer.from(h, 'hex')); });
      s.on('data', (d) => { if (out[i].reply.length < 16) out[i].reply += d.toString('hex').slice(0, 16); });
      s.on('error', () => {});
      s.on('close', () => { out[i].closed = true; if (--left === 0) finish(); });
    });`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', code, String(port), String(waitMs), payloads.map((b) => b.toString('hex')).join(',')], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', () => {
      try {
        resolve(JSON.parse(out) as Array<{ closed: boolean; reply: string }>);
      } catch (e) {
        reject(e as Error);
      }
    });
  });
}

// ---- fixture: broker with the registry policy, a gateway and a device streaming to it --------

interface Fixture {
  broker: RunningBroker;
  registry: Registry;
  policy: RegistryPolicy;
  secrets: Record<string, string>;
  clients: MqttClient[];
}

async function fixture(opts: { devices?: number; policy?: Parameters<typeof createRegistryPolicy>[1]; drainTimeout?: number; connectLimit?: ConnectLimitOptions } = {}): Promise<Fixture> {
  const registry = new Registry();
  const secrets: Record<string, string> = {};
  for (let i = 0; i < (opts.devices ?? 2); i++) {
    const id = `d${String(i).padStart(2, '0')}`;
    secrets[id] = (await registry.addDevice(id, 'p1', ['hr', 'ecg'], FAST)).secret;
  }
  secrets.g1 = (await registry.addGateway('g1', ['p1'], FAST)).secret;
  const bare = createRegistryPolicy(registry, { logger: silent, ...opts.policy });
  const policy = opts.connectLimit ? limitConnectAttempts(bare, opts.connectLimit) : bare;
  const broker = await startBroker({ port: 0, policy, connectTimeout: 1500, logger: silent, ...(opts.drainTimeout && { drainTimeout: opts.drainTimeout }) });
  return { broker, registry, policy, secrets, clients: [] };
}

async function teardown(f: Fixture): Promise<void> {
  await Promise.all(f.clients.map((c) => c.endAsync(true).catch(() => undefined)));
  f.policy.close();
  await f.broker.close();
}

async function login(f: Fixture, id: string, extra: mqtt.IClientOptions = {}): Promise<MqttClient> {
  const c = await mqtt.connectAsync(f.broker.url, { clientId: id, username: id, password: f.secrets[id], reconnectPeriod: 0, connectTimeout: 10_000, ...extra });
  f.clients.push(c);
  return c;
}

/**
 * The well-behaved pair: gateway g1 (persistent session, QoS 1) and device d00 publishing a
 * sequence every `everyMs`. check() stops it and asserts that every message arrived.
 */
async function steadyStream(f: Fixture, everyMs = 20): Promise<{ sent: () => number; check: () => Promise<void> }> {
  const got = new Set<number>();
  const gw = await login(f, 'g1', { clean: false });
  gw.on('message', (t, m) => void (t === 'vg/v1/p1/d00/hr' && got.add((JSON.parse(m.toString()) as { seq: number }).seq)));
  await gw.subscribeAsync('vg/v1/p1/+/+', { qos: 1 });
  const dev = await login(f, 'd00');
  let seq = 0;
  let failures = 0;
  const timer = setInterval(() => {
    const s = seq++;
    dev.publishAsync('vg/v1/p1/d00/hr', JSON.stringify({ seq: s, ts: Date.now(), values: { hr: 60 } }), { qos: 1 }).catch(() => failures++);
  }, everyMs);
  return {
    sent: () => seq,
    check: async () => {
      clearInterval(timer);
      const t0 = Date.now();
      while (got.size < seq && Date.now() - t0 < 5000) await sleep(20);
      assert.equal(failures, 0, 'the well-behaved device was never refused');
      assert.ok(dev.connected && gw.connected, 'the well-behaved clients are still connected');
      assert.equal(got.size, seq, `the gateway got ${got.size} of the ${seq} messages the device sent meanwhile`);
    },
  };
}

const p99 = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(0.99 * s.length) - 1)]!;
};

describe('broker robustness', function () {
  this.timeout(30_000);

  describe('malformed packets on raw sockets', () => {
    let f: Fixture;
    beforeEach(async () => {
      f = await fixture();
    });
    afterEach(async () => {
      await teardown(f);
    });

    it('closes each bad connection, stays up, and keeps serving a well-behaved device and gateway', async () => {
      const stream = await steadyStream(f);
      const good = { clientId: 'd01', username: 'd01', password: f.secrets.d01! };
      const cases: Array<[string, Buffer | Buffer[], RegExp?, boolean?]> = [
        ['garbage bytes', Buffer.from('GET / HTTP/1.1\r\nHost: broker\r\n\r\n')],
        ['all-ones bytes', Buffer.alloc(64, 0xff)],
        ['remaining length longer than 4 bytes', Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f])],
        ['reserved packet type 0', Buffer.from([0x00, 0x00])],
        ['reserved packet type 15', Buffer.from([0xf0, 0x00])],
        ['CONNECT with protocol name MQTX', connectPacket({ ...good, protocol: 'MQTX' })],
        ['CONNECT with protocol level 9', connectPacket({ ...good, level: 9 }), /^(\x20\x02\x00\x01)?$/],
        ['CONNECT with bad reserved flag', (() => { const p = connectPacket(good); p[2 + 6 + 1]! |= 0x01; return p; })()],
        ['PUBLISH before CONNECT', publishPacket('vg/v1/p1/d01/hr', '{"seq":1}')],
        ['SUBSCRIBE before CONNECT', subscribePacket('vg/v1/#', 1)],
        ['PINGREQ before CONNECT', Buffer.from([0xc0, 0x00])],
        ['a second CONNECT', [connectPacket(good), connectPacket(good)]],
        ['PUBLISH with a wildcard topic', [connectPacket(good), publishPacket('vg/v1/p1/+/hr', 'x')]],
        ['PUBLISH with an empty topic', [connectPacket(good), publishPacket('', 'x')]],
        ['SUBSCRIBE with QoS 3', [connectPacket(good), subscribePacket('vg/v1/p1/d01/cmd', 3)]],
        ['truncated CONNECT, then silence', connectPacket(good).subarray(0, 9)],
        ['CONNECT whose length runs past the data, then silence', Buffer.from([0x10, 0x7f, 0x00, 0x04, 0x4d])],
        ['truncated PUBLISH after CONNECT, then half-close', [connectPacket(good), publishPacket('vg/v1/p1/d01/hr', 'x'.repeat(100)).subarray(0, 20)], undefined, true],
      ];
      const results = await Promise.all(cases.map(([, bytes, , halfClose]) => raw(f.broker.port, bytes, 5000, halfClose)));
      results.forEach((r, i) => {
        const [name, , expect] = cases[i]!;
        assert.ok(r.closed, `${name}: the broker closed the connection`);
        if (expect) assert.match(r.received.toString('latin1'), expect, `${name}: reply`);
      });
      await stream.check();
    });

    it('survives random byte strings and mutated CONNECTs (fast-check), closing every one of them', async () => {
      const stream = await steadyStream(f);
      const valid = connectPacket({ clientId: 'd01', username: 'd01', password: 'wrong-password' });
      const randomBytes = fc.uint8Array({ minLength: 1, maxLength: 300 });
      // Valid CONNECT with a few bytes replaced: gets far into the parser; its credentials are wrong.
      const mutated = fc
        .array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 })
        .map((edits) => {
          const b = Buffer.from(valid);
          for (const [i, v] of edits) b[i] = v;
          return new Uint8Array(b);
        });
      const inputs = fc.sample(fc.oneof(randomBytes, mutated), { numRuns: 300, seed: 20261121 });
      for (let i = 0; i < inputs.length; i += 100) {
        const batch = inputs.slice(i, i + 100);
        const results = await Promise.all(batch.map((b) => raw(f.broker.port, Buffer.from(b), 6000)));
        const open = results.map((r, j) => (r.closed ? -1 : j)).filter((j) => j >= 0);
        assert.deepEqual(open.map((j) => Buffer.from(batch[j]!).toString('hex')), [], 'connections the broker left open');
        // A refused CONNECT (bad credentials) is answered with CONNACK 4 or 5, never 0.
        for (const r of results) assert.ok(!r.received.subarray(0, 4).equals(Buffer.from([0x20, 0x02, 0x00, 0x00])), 'never accepted');
      }
      assert.equal(f.broker.aedes.connectedClients, 2, 'only the well-behaved pair is connected');
      await stream.check();
    });
  });

  describe('oversize payloads', () => {
    it('refuses a publish over maxPayloadBytes (the sender is disconnected, nothing delivered) without affecting others', async () => {
      const f = await fixture({ policy: { maxPayloadBytes: 64 * 1024 } });
      try {
        const stream = await steadyStream(f);
        const seen: number[] = [];
        const gw = f.clients[0]!;
        gw.on('message', (t, m) => void (t.endsWith('/ecg') && seen.push(m.length)));
        const d01 = await login(f, 'd01');
        await d01.publishAsync('vg/v1/p1/d01/ecg', Buffer.alloc(64 * 1024 - 16), { qos: 1 });
        const gone = new Promise<void>((r) => d01.once('close', () => r()));
        // Over the policy's 64 KiB but under the broker's packet cap (512 KiB): the policy refuses it.
        d01.publish('vg/v1/p1/d01/ecg', Buffer.alloc(200 * 1024), { qos: 1 });
        await gone;
        await sleep(300);
        assert.deepEqual(seen, [64 * 1024 - 16], 'only the payload within the limit was delivered');
        assert.equal(f.policy.stats().byReason['publish:payload-too-large'], 1);
        await stream.check();
      } finally {
        await teardown(f);
      }
    });

    it('packet guard: a declared 200 MiB packet is cut at its header, before CONNECT, and not buffered (bare aedes + limitPacketSize)', async () => {
      const { Aedes } = await import('aedes');
      const aedes = await Aedes.createBroker({});
      const rejected: string[] = [];
      const server: Server = createServer((s) => aedes.handle(limitPacketSize(s, { maxPacketBytes: 256 * 1024, onReject: (r) => rejected.push(r) })));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      const port = (server.address() as AddressInfo).port;
      try {
        const before = process.memoryUsage().arrayBuffers;
        const s: Socket = netConnect(port, '127.0.0.1');
        await new Promise((r) => s.once('connect', r));
        const closed = new Promise<void>((r) => s.once('close', () => r()));
        s.on('error', () => undefined);
        s.write(Buffer.from([0x10, ...varint(200 * 1024 * 1024)]));
        let sent = 0;
        const chunk = Buffer.alloc(1024 * 1024);
        while (!s.destroyed && sent < 50 * chunk.length) {
          if (!s.write(chunk)) await Promise.race([new Promise((r) => s.once('drain', r)), closed]);
          sent += chunk.length;
        }
        await closed;
        assert.ok(process.memoryUsage().arrayBuffers - before < 32 * 1024 * 1024, 'the broker did not buffer the packet');
        assert.match(rejected.join(), /exceeds 262144/);
        // Not a CONNECT first, and a 5-byte remaining length, are cut the same way.
        assert.ok((await raw(port, publishPacket('a/b', 'x'), 3000)).closed);
        assert.ok((await raw(port, Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f]), 3000)).closed);
        assert.match(rejected.join(), /first packet is not CONNECT/);
        assert.match(rejected.join(), /malformed remaining length/);
        // Normal traffic, including a packet just under the limit, passes.
        const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'ok', reconnectPeriod: 0 });
        const got = new Promise<number>((r) => c.once('message', (_t, m) => r(m.length)));
        await c.subscribeAsync('big', { qos: 1 });
        await c.publishAsync('big', Buffer.alloc(256 * 1024 - 16), { qos: 1 });
        assert.equal(await got, 256 * 1024 - 16);
        await c.endAsync();
      } finally {
        await new Promise<void>((r) => aedes.close(() => r()));
        await new Promise<void>((r) => server.close(() => r()));
      }
    });
  });

  describe('connect flood', () => {
    // The registered devices here have cheap test hashes (as in the other tests). With production
    // parameters every wrong password costs a full scrypt (~150 ms here) on the event loop, which
    // is what the policy's pending limit and the connect limit below (and hashing on the thread pool) are for.
    it('500 rapid connections (wrong passwords, idle sockets, garbage) do not take it down; a good device still connects and delivers within 5 s', async () => {
      const f = await fixture();
      try {
        const stream = await steadyStream(f, 50);
        const payloads: Buffer[] = [];
        for (let i = 0; i < 500; i++) {
          const kind = i % 5;
          // 300 valid CONNECTs for a registered device with wrong passwords (CONNACK 4), 100 sockets
          // that say nothing (closed at connectTimeout), 100 with garbage.
          if (kind <= 2) payloads.push(connectPacket({ clientId: 'd01', username: 'd01', password: `guess-${i}` }));
          else if (kind === 3) payloads.push(Buffer.alloc(0));
          else payloads.push(Buffer.from(`\x10garbage-${i}`));
        }
        const flood = floodFromChild(f.broker.port, payloads, 10_000);
        await sleep(100);
        const t0 = performance.now();
        // CONNACK 3 (server unavailable) is the policy's answer while its queue of secret checks is
        // full of the flood's; a device tries again, as this one does, within the same 5 s.
        let d01: MqttClient | undefined;
        let retries = 0;
        while (!d01) {
          try {
            d01 = await login(f, 'd01');
          } catch (e) {
            if ((e as { code?: number }).code !== 3 || performance.now() - t0 > 5000) throw e;
            retries++;
            await sleep(100);
          }
        }
        const gw = f.clients[0]!;
        const got = new Promise<void>((r) => gw.on('message', (t) => t === 'vg/v1/p1/d01/hr' && r()));
        await d01.publishAsync('vg/v1/p1/d01/hr', JSON.stringify({ seq: 0, ts: Date.now(), values: { hr: 61 } }), { qos: 1 });
        await got;
        const ms = performance.now() - t0;
        const results = await flood;
        assert.ok(ms < 5000, `the good device connected and delivered in ${Math.round(ms)} ms`);
        assert.ok(results.every((r) => r.closed), `${results.filter((r) => !r.closed).length} flood connections left open`);
        // Every wrong password was refused: none got CONNACK 0. Each refusal is counted, except that
        // on a slow machine a CONNECT still queued for its secret check at connectTimeout (1.5 s
        // here) is closed by aedes before the policy answers it.
        assert.equal(results.filter((r) => r.reply === '20020000').length, 0, 'no wrong password was accepted');
        const refused = f.policy.stats().byAction.connect;
        // The good device's own CONNACK 3s are refusals too.
        assert.ok(refused > 0 && refused <= 300 + retries, `${refused} connect refusals counted (${retries} of them the good device's)`);
        await stream.check();
      } finally {
        await teardown(f);
      }
    });

    it('CONNECTs with made-up usernames (a full-cost scrypt each): beyond the policy\'s pending limit they get CONNACK 3 at once, and a good device gets in within 15 s', async () => {
      const registry = new Registry();
      const secret = (await registry.addDevice('d01', 'p1', ['hr'], FAST)).secret;
      const policy = createRegistryPolicy(registry, { logger: silent, maxConcurrentAuth: 2, maxPendingAuth: 4 });
      const broker = await startBroker({ port: 0, policy, connectTimeout: 1500, logger: silent });
      try {
        // Each made-up username is checked against the default-cost dummy hash (N = 2^15).
        const flood = floodFromChild(broker.port, Array.from({ length: 100 }, (_, i) => connectPacket({ clientId: `x${i}`, username: `x${i}`, password: 'x' })), 20_000);
        await sleep(200);
        const t0 = performance.now();
        let good: MqttClient | undefined;
        while (!good) {
          try {
            good = await mqtt.connectAsync(broker.url, { clientId: 'd01', username: 'd01', password: secret, reconnectPeriod: 0, connectTimeout: 5000 });
          } catch (e) {
            // "Server unavailable" (CONNACK 3), or no CONNACK while the flood's hashes hold the slots:
            // try again, as devices do. The bound below is on the whole time to get in.
            if ((e as { code?: number }).code !== 3 && !/connack timeout/.test((e as Error).message)) throw e;
            await sleep(100);
          }
        }
        const ms = performance.now() - t0;
        await good.endAsync();
        const results = await flood;
        const busy = results.filter((r) => r.reply === '20020003').length;
        // Each made-up name costs a full scrypt: ~150 ms here, several times that on a loaded machine (measured 1.3-8.6 s to get in).
        assert.ok(ms < 15_000, `the good device got in after ${Math.round(ms)} ms`);
        // How many arrive while the queue is full depends on how fast the flood lands (slower on a
        // loaded machine, where the queue drains between arrivals); a fifth is refused even then.
        assert.ok(busy >= 20, `a large part of the flood was refused as busy without hashing (${busy})`);
        assert.ok((policy.stats().byReason['connect:auth-overloaded'] ?? 0) >= busy, 'the policy counted them');
        assert.ok(results.every((r) => r.closed));
      } finally {
        policy.close();
        await broker.close();
      }
    });

    it('connect limit: a client reconnecting in a tight loop is refused per username before any hashing; other devices are unaffected', async () => {
      const f = await fixture({ connectLimit: {} });
      try {
        const stream = await steadyStream(f, 50);
        // 3 s of reconnecting as fast as possible as d01 with a wrong password, from another process.
        const code = `const net = require('node:net');
          const [port, c] = process.argv.slice(1);
          const conn = Buffer.from(c, 'hex');
          let attempts = 0; const end = Date.now() + 3000;
          function go() {
            if (Date.now() > end) { process.stdout.write(String(attempts)); process.exit(0); }
            attempts++;
            const s = net.connect(Number(port), '127.0.0.1', () => s.write(conn));
            s.on('data', () => {}); s.on('error', () => {}); s.on('close', () => setImmediate(go));
          }
          go();`;
        const child = spawn(process.execPath, ['-e', code, String(f.broker.port), connectPacket({ clientId: 'd01', username: 'd01', password: 'guess' }).toString('hex')], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
        const t0 = performance.now();
        await new Promise((r) => child.once('exit', r));
        const attempts = Number(out);
        const hashed = f.policy.stats().byReason['connect:bad-password'] ?? 0;
        const refused = (f.policy as unknown as ReturnType<typeof limitConnectAttempts>).connectLimitStats().refused;
        assert.ok(attempts > 300, `the client kept reconnecting (${attempts} attempts)`);
        // Burst 5 + 2/s over ~3 s, plus the good login's own attempt.
        assert.ok(hashed <= 12, `only ${hashed} of ${attempts} attempts reached the password check`);
        assert.ok(refused >= attempts - 12, `${refused} refused before hashing`);
        assert.ok(performance.now() - t0 < 10_000);
        await stream.check();
      } finally {
        await teardown(f);
      }
    });
  });

  describe('slow consumer', () => {
    it('drops a subscriber that never reads after drainTimeout, without stalling the others', async () => {
      const f = await fixture({ drainTimeout: 1000 });
      try {
        const stream = await steadyStream(f);
        // The slow subscriber: a second gateway identity on a raw socket that subscribes and then
        // never reads (a device may subscribe only its own cmd topic, so it has to be a gateway).
        f.secrets.g2 = (await f.registry.addGateway('g2', ['p1'], FAST)).secret;
        const slow = netConnect(f.broker.port, '127.0.0.1');
        await new Promise((r) => slow.once('connect', r));
        slow.write(connectPacket({ clientId: 'g2', username: 'g2', password: f.secrets.g2, keepalive: 0 }));
        slow.write(subscribePacket('vg/v1/p1/+/+', 0));
        await sleep(200);
        slow.pause(); // never reads again
        const dropped = new Promise<number>((r) => f.broker.aedes.on('clientDisconnect', (c) => c.id === 'g2' && r(performance.now())));
        // A healthy second subscriber (the gateway g1 of the stream) and a device sending 32 KiB ECG
        // chunks at 100/s, several MB/s, until g2's socket buffers are full.
        const gw = f.clients[0]!;
        let last = performance.now();
        let maxGap = 0;
        let ecg = 0;
        gw.on('message', (t) => {
          if (!t.endsWith('/ecg')) return;
          const now = performance.now();
          maxGap = Math.max(maxGap, now - last);
          last = now;
          ecg++;
        });
        const d01 = await login(f, 'd01');
        const t0 = performance.now();
        let sent = 0;
        let droppedAt: number | undefined;
        void dropped.then((t) => (droppedAt = t));
        while (performance.now() - t0 < 8000 && (droppedAt === undefined || performance.now() - droppedAt < 1000)) {
          await d01.publishAsync('vg/v1/p1/d01/ecg', Buffer.alloc(32 * 1024, sent % 256), { qos: 1 });
          sent++;
          await sleep(10);
        }
        assert.ok(droppedAt !== undefined, 'the slow subscriber was dropped');
        const tEnd = performance.now();
        while (ecg < sent && performance.now() - tEnd < 3000) await sleep(20);
        assert.equal(ecg, sent, 'the healthy subscriber got every chunk');
        assert.ok(maxGap < 500, `the healthy subscriber never waited on the slow one (longest gap ${Math.round(maxGap)} ms, drainTimeout 1000 ms)`);
        slow.destroy();
        await stream.check();
      } finally {
        await teardown(f);
      }
    });
  });

  describe('bounded load', () => {
    /**
     * 20 devices at 10 msg/s each to one gateway (persistent session, QoS 1), for 4 s unloaded and
     * 4 s while another device (a separate process) floods PUBLISHes as fast as its socket takes
     * them. The policy's publish rate (200/s, burst 400) holds the flooder back by backpressure:
     * its publishes wait for their slot and the broker stops reading its socket meanwhile, so it
     * costs no more than 200 msg/s however fast it writes.
     *
     * What got it here (measured on this 2-core machine): refusing over-rate publishes with a
     * disconnect let the flooder blast a socket-full between reconnects (flooded p99 5-13 ms
     * against 1-4 ms unloaded); without TCP_NODELAY the broker's small writes waited on delayed
     * ACKs (45-55 ms); a flooder reconnecting in a tight loop costs a scrypt per attempt without
     * the connect limit (55-70 ms). With backpressure, flooded p99 is 0.9-1.5× unloaded.
     *
     * The bound: flooded p99 ≤ 2 × unloaded p99, with the unloaded value taken as at least 5 ms:
     * below that, 2× would be tighter than one scheduling hiccup on a shared 2-core machine.
     */
    it("keeps the well-behaved devices' p99 publish→receive latency within 2× of unloaded while one client floods", async () => {
      const f = await fixture({ devices: 21, policy: { publishRate: { perSecond: 200, burst: 400 } }, connectLimit: {} });
      let flooder: ChildProcess | undefined;
      try {
        const gw = await login(f, 'g1', { clean: false });
        let phase: number[] | undefined;
        gw.on('message', (t, m) => {
          if (!phase || t.includes('/d20/')) return;
          phase.push(performance.now() - (JSON.parse(m.toString()) as { at: number }).at);
        });
        await gw.subscribeAsync('vg/v1/p1/+/+', { qos: 1 });
        const devices: MqttClient[] = [];
        for (let i = 0; i < 20; i++) devices.push(await login(f, `d${String(i).padStart(2, '0')}`));
        const timers = devices.map((d, i) => {
          const id = `d${String(i).padStart(2, '0')}`;
          let seq = 0;
          const start = setTimeout(() => {
            timers[i] = setInterval(() => {
              void d.publishAsync(`vg/v1/p1/${id}/hr`, JSON.stringify({ seq: seq++, at: performance.now() }), { qos: 1 }).catch(() => undefined);
            }, 100);
          }, i * 5); // spread over the 100 ms period
          return start;
        });
        const measure = async (ms: number): Promise<number[]> => {
          phase = [];
          await sleep(ms);
          const out = phase;
          phase = undefined;
          return out;
        };
        await sleep(500); // warm up
        const unloaded = await measure(4000);

        // The flooder: a child process writing one prepared PUBLISH over and over, reconnecting
        // whenever the broker drops it.
        const connectBytes = connectPacket({ clientId: 'd20', username: 'd20', password: f.secrets.d20!, keepalive: 0 });
        const publishBytes = publishPacket('vg/v1/p1/d20/hr', JSON.stringify({ seq: 0, at: 0, values: { hr: 250 } }));
        const code = `const net = require('node:net');
          const [port, c, p] = process.argv.slice(1);
          const conn = Buffer.from(c, 'hex'), pub = Buffer.concat(Array(64).fill(Buffer.from(p, 'hex')));
          let connects = 0, written = 0;
          function go() {
            let up = false;
            const s = net.connect(Number(port), '127.0.0.1', () => { connects++; s.write(conn); });
            const pump = () => { while (up && s.writable && s.write(pub)) written += 64; };
            // Like any MQTT client it waits for CONNACK (aedes drops a client that sends more than
            // 42 packets before its CONNECT is through), then writes as fast as the socket takes it.
            s.on('data', (d) => { if (!up && d[0] === 0x20 && d[3] === 0) { up = true; pump(); } });
            s.on('drain', pump); s.on('error', () => {});
            s.on('close', () => setTimeout(go, 250));
          }
          go();
          process.on('message', () => process.send({ connects, written }));`;
        flooder = spawn(process.execPath, ['-e', code, String(f.broker.port), connectBytes.toString('hex'), publishBytes.toString('hex')], {
          stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
        });
        await sleep(500);
        const flooded = await measure(4000);
        const floodStats = await new Promise<{ connects: number; written: number }>((r) => {
          flooder!.once('message', (m) => r(m as { connects: number; written: number }));
          flooder!.send('stats');
        });
        flooder.kill('SIGKILL');
        for (const t of timers) clearTimeout(t), clearInterval(t);

        const base = p99(unloaded);
        const loaded = p99(flooded);
        const bound = 2 * Math.max(base, 5);
        process.stderr.write(
          `      p99 unloaded ${base.toFixed(1)} ms (${unloaded.length} msgs), flooded ${loaded.toFixed(1)} ms (${flooded.length} msgs), bound ${bound.toFixed(1)} ms; ` +
            `flooder: ${floodStats.connects} connects, ${floodStats.written} publishes written, ${f.policy.stats().throttled} publishes held to the rate, ` +
            `${(f.policy as unknown as ReturnType<typeof limitConnectAttempts>).connectLimitStats().refused} reconnects refused by the connect limit\n`,
        );
        assert.ok(unloaded.length > 700 && flooded.length > 700, 'the devices kept sending in both phases');
        assert.ok(floodStats.written > 10_000, 'the flooder really flooded');
        assert.ok(loaded <= bound, `flooded p99 ${loaded.toFixed(1)} ms > bound ${bound.toFixed(1)} ms (unloaded ${base.toFixed(1)} ms)`);
      } finally {
        flooder?.kill('SIGKILL');
        await teardown(f);
      }
    });
  });
});
