import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import pino from 'pino';
import { createRegistryPolicy, Registry, startBroker, verifySecret, type RegistryPolicy, type RunningBroker } from '../../src/index.js';

/** Small scrypt cost so the suite stays fast; the default parameters get their own test. */
const FAST = { scrypt: { N: 1 << 10, r: 8, p: 1, dkLen: 32 } };

interface Fixture {
  broker: RunningBroker;
  registry: Registry;
  policy: RegistryPolicy;
  logs: Array<Record<string, unknown>>;
  secrets: Record<string, string>;
  clients: MqttClient[];
}

async function fixture(policyOpts: Parameters<typeof createRegistryPolicy>[1] = {}): Promise<Fixture> {
  const registry = new Registry();
  const secrets: Record<string, string> = {};
  secrets.d1 = (await registry.addDevice('d1', 'p1', ['hr', 'ecg'], FAST)).secret;
  secrets.d2 = (await registry.addDevice('d2', 'p1', ['spo2'], FAST)).secret;
  secrets.d3 = (await registry.addDevice('d3', 'p2', ['hr'], FAST)).secret;
  secrets.g1 = (await registry.addGateway('g1', ['p1'], FAST)).secret;
  secrets.g2 = (await registry.addGateway('g2', ['p2'], FAST)).secret;
  const logs: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void logs.push(JSON.parse(s) as Record<string, unknown>) });
  const policy = createRegistryPolicy(registry, { logger, ...policyOpts });
  const broker = await startBroker({ port: 0, policy });
  return { broker, registry, policy, logs, secrets, clients: [] };
}

async function teardown(f: Fixture): Promise<void> {
  await Promise.all(f.clients.map((c) => c.endAsync(true).catch(() => undefined)));
  f.policy.close();
  await f.broker.close();
}

function connect(f: Fixture, id: string, password = f.secrets[id], clientId = id): Promise<MqttClient> {
  return mqtt.connectAsync(f.broker.url, { clientId, username: id, password, reconnectPeriod: 0, connectTimeout: 5000 }).then((c) => {
    f.clients.push(c);
    return c;
  });
}

function closed(c: MqttClient, ms = 3000): Promise<void> {
  if (!c.connected) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`client ${c.options.clientId} still connected after ${ms} ms`)), ms);
    c.once('close', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/** SUBACK return codes in order; mqtt.js rejects when any is 128, with the SUBACK attached. */
async function granted(c: MqttClient, subs: Record<string, { qos: 0 | 1 | 2 }>): Promise<number[]> {
  try {
    return (await c.subscribeAsync(subs)).map((g) => g.qos);
  } catch (e) {
    const packet = (e as { packet?: { granted?: number[] } }).packet;
    if (!packet?.granted) throw e;
    return packet.granted;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A gateway g1 subscribed to everything it may see, collecting topics. */
async function watcher(f: Fixture, id = 'g1', filter = 'vg/v1/p1/#'): Promise<string[]> {
  const g = await connect(f, id);
  const seen: string[] = [];
  g.on('message', (t) => seen.push(t));
  assert.deepEqual(await granted(g, { [filter]: { qos: 1 } }), [1]);
  return seen;
}

describe('identity registry', () => {
  let dir: string;
  beforeEach(async () => (dir = await mkdtemp(join(tmpdir(), 'vg-identity-'))));
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('stores only a salted scrypt hash with its parameters, in a 0600 file, and round-trips', async () => {
    const r = new Registry();
    const { secret } = await r.addDevice('dev-1', 'pat-1', ['ecg', 'hr'], FAST);
    const { secret: s2 } = await r.addGateway('gw-1', ['pat-1', 'pat-2'], FAST);
    assert.match(secret, /^[A-Za-z0-9_-]{43}$/);
    const path = join(dir, 'sub', 'reg.json');
    await r.save(path);
    const text = await readFile(path, 'utf8');
    assert.ok(!text.includes(secret) && !text.includes(s2), 'the secret must not be stored');
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    const back = await Registry.load(path);
    const d = back.get('dev-1');
    assert.equal(d?.kind, 'device');
    assert.deepEqual(d?.kind === 'device' && d.entry.streams, ['ecg', 'hr']);
    assert.deepEqual({ ...d!.entry.secret, salt: '', hash: '' }, { alg: 'scrypt', N: 1024, r: 8, p: 1, dkLen: 32, salt: '', hash: '' });
    assert.equal(await verifySecret(secret, d!.entry.secret), true);
    assert.equal(await verifySecret(secret + 'x', d!.entry.secret), false);
    assert.equal(await verifySecret(s2, d!.entry.secret), false);
    // Same secret, different salt → different hash.
    assert.notEqual(back.get('gw-1')!.entry.secret.salt, d!.entry.secret.salt);
  });

  it('uses slow default scrypt parameters (N=2^15, r=8)', async () => {
    const r = new Registry();
    const { secret } = await r.addDevice('d', 'p', ['hr']);
    const h = r.get('d')!.entry.secret;
    assert.equal(h.N, 1 << 15);
    assert.equal(h.r, 8);
    assert.equal(await verifySecret(secret, h), true);
  });

  it('refuses duplicate ids, a shared device/gateway namespace, bad ids and unknown streams', async () => {
    const r = new Registry();
    await r.addDevice('x', 'p', ['hr'], FAST);
    await assert.rejects(r.addDevice('x', 'p', ['hr'], FAST), /already exists.*--replace/);
    await assert.rejects(r.addGateway('x', ['p'], FAST), /already a device/);
    await assert.rejects(r.addDevice('bad/id', 'p', ['hr'], FAST), /invalid device id/);
    await assert.rejects(r.addDevice('y', 'p', ['nope'], FAST), /unknown stream "nope"/);
    await assert.rejects(r.addGateway('g', [], FAST), /at least one patient/);
    assert.throws(() => r.revoke('missing'), /no device or gateway "missing"/);
    r.revoke('x');
    assert.ok(r.get('x')?.entry.revokedAt);
    assert.equal(r.active('x'), undefined);
    await r.addDevice('x', 'p', ['hr'], { ...FAST, replace: true });
    assert.ok(r.active('x'));
  });

  it('rejects a malformed registry file with a clear message', async () => {
    const path = join(dir, 'r.json');
    await writeFile(path, '{"version":1,"devices":{"d":{"patient":"p","streams":["hr"],"secret":{"alg":"md5"}}}}');
    await assert.rejects(Registry.load(path), /device "d": secret must be/);
    await assert.rejects(Registry.load(join(dir, 'none.json')), /does not exist/);
    assert.deepEqual((await Registry.load(join(dir, 'none.json'), { allowMissing: true })).list(), []);
  });
});

describe('registry broker policy (aedes + mqtt.js on 127.0.0.1)', () => {
  let f: Fixture;
  beforeEach(async () => (f = await fixture()));
  afterEach(async () => teardown(f));

  it('accepts good credentials and relays a device reading to its gateway', async () => {
    const seen = await watcher(f);
    const d1 = await connect(f, 'd1');
    await d1.publishAsync('vg/v1/p1/d1/hr', '{"v":60}', { qos: 1 });
    await d1.publishAsync('vg/v1/p1/d1/status', 'online', { qos: 1, retain: true });
    await sleep(100);
    assert.deepEqual(seen, ['vg/v1/p1/d1/hr', 'vg/v1/p1/d1/status']);
    assert.deepEqual(f.policy.connectedIds().sort(), ['d1', 'g1']);
    assert.equal(f.policy.stats().total, 0);
  });

  it('refuses a wrong password, an unknown id and a missing password with CONNACK 4', async () => {
    for (const [id, pw] of [['d1', 'wrong'], ['nobody', 'whatever'], ['d1', f.secrets.d2]] as const) {
      await assert.rejects(connect(f, id, pw), (e: Error & { code?: number }) => {
        assert.equal(e.code, 4, `${id}: ${e.message}`);
        assert.match(e.message, /bad username or password/i);
        return true;
      });
    }
    await assert.rejects(mqtt.connectAsync(f.broker.url, { clientId: 'd1', reconnectPeriod: 0 }), (e: Error & { code?: number }) => e.code === 4);
    const s = f.policy.stats();
    assert.equal(s.byReason['connect:bad-password'], 2);
    assert.equal(s.byReason['connect:unknown-id'], 1);
    assert.equal(s.byReason['connect:missing-credentials'], 1);
    assert.equal(f.broker.stats().denials?.total, 4);
    assert.ok(f.logs.some((l) => l.reason === 'bad-password' && l.client === 'd1' && l.action === 'connect'));
  });

  it('requires the clientId to equal the username (CONNACK 2)', async () => {
    await assert.rejects(connect(f, 'd1', f.secrets.d1, 'd1.other'), (e: Error & { code?: number }) => e.code === 2);
    await assert.rejects(connect(f, 'd1', f.secrets.d1, 'd2'), (e: Error & { code?: number }) => e.code === 2);
    assert.equal(f.policy.stats().byReason['connect:client-id-mismatch'], 2);
  });

  for (const [topic, reason] of [
    ['vg/v1/p1/d2/spo2', 'other-device'],
    ['vg/v1/p2/d1/hr', 'other-patient'],
    ['vg/v1/p1/d1/spo2', 'unregistered-stream'],
    ['vg/v1/p1/d1/cmd', 'device-may-not-publish-commands'],
    ['elsewhere/x', 'not-a-device-topic'],
  ] as const) {
    it(`does not deliver a device publish to ${topic} (${reason}), counts and logs it`, async () => {
      const seen = await watcher(f, 'g1', 'vg/v1/p1/#');
      const seen2 = await watcher(f, 'g2', 'vg/v1/p2/#');
      const d1 = await connect(f, 'd1');
      const gone = closed(d1);
      d1.publish(topic, 'x', { qos: 0 });
      await gone; // aedes answers a denied publish by disconnecting (MQTT 3.1.1 has no refusal code)
      await sleep(100);
      assert.deepEqual([...seen, ...seen2], []);
      const s = f.policy.stats();
      assert.equal(s.byReason[`publish:${reason}`], 1);
      assert.equal(s.byAction.publish, 1);
      assert.ok(f.logs.some((l) => l.client === 'd1' && l.topic === topic && l.reason === reason), JSON.stringify(f.logs));
    });
  }

  it('grants a device only its own cmd topic (others get QoS 128)', async () => {
    const d1 = await connect(f, 'd1');
    const g = await granted(d1, { 'vg/v1/p1/d1/cmd': { qos: 1 }, 'vg/v1/p1/d2/cmd': { qos: 1 }, 'vg/v1/p1/+/+': { qos: 1 }, '#': { qos: 0 }, '$SYS/#': { qos: 0 } });
    assert.deepEqual(g, [1, 128, 128, 128, 128]);
    assert.equal(f.policy.stats().byReason['subscribe:device-may-only-subscribe-own-cmd'], 4);
    assert.ok(d1.connected, 'a refused subscription does not disconnect');
    // A gateway command reaches the device through its one allowed subscription.
    const got = new Promise<string>((r) => d1.once('message', (t) => r(t)));
    const g1 = await connect(f, 'g1');
    await g1.publishAsync('vg/v1/p1/d1/cmd', '{"op":"ping"}', { qos: 1 });
    assert.equal(await got, 'vg/v1/p1/d1/cmd');
  });

  it('lets a gateway subscribe only inside its patients, and not publish readings', async () => {
    const g1 = await connect(f, 'g1');
    const g = await granted(g1, { 'vg/v1/p1/+/+': { qos: 1 }, 'vg/v1/p1/d1/hr': { qos: 1 }, 'vg/v1/p2/+/+': { qos: 1 }, 'vg/v1/+/+/+': { qos: 1 }, 'vg/#': { qos: 1 } });
    assert.deepEqual(g, [1, 1, 128, 128, 128]);
    assert.equal(f.policy.stats().byReason['subscribe:other-patient'], 2);
    assert.equal(f.policy.stats().byReason['subscribe:outside-patient-subtree'], 1);
    const seen = await watcher(f, 'g2', 'vg/v1/p2/#');
    const gone = closed(g1);
    g1.publish('vg/v1/p1/d1/hr', 'forged', { qos: 0 });
    await gone;
    const g2 = f.clients.find((c) => c.options.clientId === 'g2')!;
    const gone2 = closed(g2);
    g2.publish('vg/v1/p1/d1/cmd', 'x', { qos: 0 }); // command to a patient it is not bound to
    await gone2;
    assert.deepEqual(seen, []);
    assert.equal(f.policy.stats().byReason['publish:gateway-may-only-publish-commands'], 1);
    assert.equal(f.policy.stats().byReason['publish:other-patient'], 1);
  });

  it('disconnects a revoked device at once, and it cannot reconnect', async () => {
    const d1 = await connect(f, 'd1');
    const g1 = await connect(f, 'g1');
    const gone = closed(d1, 1000);
    const t0 = performance.now();
    f.registry.revoke('d1');
    await gone;
    assert.ok(performance.now() - t0 < 1000);
    assert.ok(g1.connected, 'others stay connected');
    await assert.rejects(connect(f, 'd1'), (e: Error & { code?: number }) => e.code === 4);
    const s = f.policy.stats();
    assert.equal(s.revokedDisconnects, 1);
    assert.equal(s.byReason['connect:revoked'], 1);
    assert.ok(f.logs.some((l) => l.client === 'd1' && l.reason === 'revoked' && l.msg === 'credential no longer valid: disconnecting'));
    assert.deepEqual(f.policy.connectedIds(), ['g1']);
  });

  it('disconnects a device whose secret is replaced; the new secret works, the old does not', async () => {
    const d1 = await connect(f, 'd1');
    const gone = closed(d1);
    const old = f.secrets.d1;
    const { secret } = await f.registry.addDevice('d1', 'p1', ['hr'], { ...FAST, replace: true });
    await gone;
    await assert.rejects(connect(f, 'd1', old), (e: Error & { code?: number }) => e.code === 4);
    const again = await connect(f, 'd1', secret);
    assert.ok(again.connected);
  });

  it('refuses payloads over maxPayloadBytes', async () => {
    await teardown(f);
    f = await fixture({ maxPayloadBytes: 1000 });
    const seen = await watcher(f);
    const d1 = await connect(f, 'd1');
    await d1.publishAsync('vg/v1/p1/d1/ecg', Buffer.alloc(1000), { qos: 1 });
    const gone = closed(d1);
    d1.publish('vg/v1/p1/d1/ecg', Buffer.alloc(1001), { qos: 0 });
    await gone;
    await sleep(50);
    assert.deepEqual(seen, ['vg/v1/p1/d1/ecg']);
    assert.equal(f.policy.stats().byReason['publish:payload-too-large'], 1);
  });

  it('holds a client to its publish rate by backpressure: the burst passes at once, the rest waits for its slot, nothing is lost', async () => {
    await teardown(f);
    f = await fixture({ publishRate: { perSecond: 5, burst: 5 } });
    const seen = await watcher(f);
    const d1 = await connect(f, 'd1');
    const t0 = Date.now();
    for (let i = 0; i < 10; i++) d1.publish('vg/v1/p1/d1/hr', String(i), { qos: 0 });
    await sleep(150);
    assert.equal(seen.length, 5, 'the burst');
    while (seen.length < 10 && Date.now() - t0 < 5000) await sleep(20);
    const took = Date.now() - t0;
    assert.equal(seen.length, 10, 'every publish, in time');
    assert.ok(took >= 900 && took < 2500, `the other 5 at 5/s took ${took} ms`);
    assert.ok(d1.connected, 'a client over its rate is slowed, not disconnected');
    assert.equal(f.policy.stats().throttled, 5);
    assert.equal(f.policy.stats().byReason['publish:rate-limited'], undefined);
  });

  it('reloads the registry file on change and disconnects what was revoked there', async function () {
    const dir = await mkdtemp(join(tmpdir(), 'vg-identity-'));
    try {
      const path = join(dir, 'reg.json');
      await f.registry.save(path);
      const errors: Error[] = [];
      const w = f.registry.watchFile(path, (e) => errors.push(e));
      try {
        const d1 = await connect(f, 'd1');
        const d2 = await connect(f, 'd2');
        const gone = closed(d1, 5000);
        // What `vitalgate devices revoke d1 --registry …` does: load, revoke, save atomically.
        const other = await Registry.load(path);
        other.revoke('d1');
        await other.save(path);
        await gone;
        assert.ok(d2.connected);
        assert.equal(f.registry.active('d1'), undefined);
        // A device added to the file can connect without a restart.
        const { secret } = await other.addDevice('d9', 'p1', ['hr'], FAST);
        await other.save(path);
        for (let i = 0; i < 50 && !f.registry.active('d9'); i++) await sleep(50);
        assert.ok((await connect(f, 'd9', secret)).connected);
        assert.deepEqual(errors, []);
      } finally {
        w.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
