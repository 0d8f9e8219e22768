/**
 * Wills, retained readings, the failed-login limit, the WebSocket frame cap, the journal's file
 * modes and [MQTT-3.1.3-8]: regressions from a hostile review. The will tests run the real
 * `vitalgate broker` process on a --persistence-dir and kill it with SIGKILL.
 */
import assert from 'node:assert/strict';
import { connect as tcpConnect } from 'node:net';
import { mkdtemp, rm, stat, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import mqttPacket from 'mqtt-packet';
import pino from 'pino';
import WebSocket from 'ws';
import { freePort } from '@vitalgate/test-support';
import { createRegistryPolicy, limitConnectAttempts, openFilePersistence, Registry, startBroker } from '../../../src/index.js';
import { CLI, sleep, startProcess, type Proc } from '../../support.js';

const FAST = { scrypt: { N: 1 << 10, r: 8, p: 1, dkLen: 32 } };

/**
 * CONNECT with a zero-byte ClientId, written byte by byte: mqtt-packet refuses to encode one with
 * CleanSession 0, which is exactly the packet under test.
 */
function emptyIdConnect(clean: boolean): Buffer {
  return Buffer.from([0x10, 12, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, clean ? 0x02 : 0x00, 0x00, 0x1e, 0x00, 0x00]);
}

/** The first packet the broker answers a raw CONNECT with, and whether it then closed the socket. */
function rawConnect(port: number, connect: Buffer): Promise<{ first: mqttPacket.Packet | undefined; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const sock = tcpConnect(port, '127.0.0.1');
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    let first: mqttPacket.Packet | undefined;
    parser.on('packet', (p) => { first ??= p; });
    sock.on('data', (d) => parser.parse(d));
    sock.on('error', () => undefined);
    sock.on('close', () => resolve({ first, closed: true }));
    sock.on('connect', () => sock.write(connect));
    setTimeout(() => { sock.destroy(); resolve({ first, closed: false }); }, 3000).unref();
    sock.once('error', reject);
  });
}

/** One CONNECT with a password from `localAddress`; resolves with the CONNACK return code. */
function loginFrom(port: number, localAddress: string, id: string, password: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = tcpConnect({ port, host: '127.0.0.1', localAddress });
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p) => {
      if (p.cmd === 'connack') {
        sock.destroy();
        resolve((p as mqttPacket.IConnackPacket).returnCode ?? -1);
      }
    });
    sock.on('data', (d) => parser.parse(d));
    sock.on('error', reject);
    sock.on('connect', () => sock.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, keepalive: 30, clean: true, clientId: id, username: id, password: Buffer.from(password) })));
  });
}

describe('session rules: wills, retained readings, login limits, frame caps', function () {
  this.timeout(60_000);

  it('[MQTT-3.1.3-8] a zero-byte ClientId with CleanSession 0 gets CONNACK 2 and is closed; with CleanSession 1 it is accepted', async () => {
    const broker = await startBroker({ port: 0, logger: pino({ level: 'silent' }) });
    try {
      const refused = await rawConnect(broker.port, emptyIdConnect(false));
      assert.equal(refused.first?.cmd, 'connack');
      assert.equal((refused.first as mqttPacket.IConnackPacket).returnCode, 2);
      assert.equal(refused.closed, true);
      const ok = await rawConnect(broker.port, emptyIdConnect(true));
      assert.equal((ok.first as mqttPacket.IConnackPacket).returnCode, 0);
      assert.equal(broker.stats().rules.emptyClientIdRefused, 1);
    } finally {
      await broker.close();
    }
  });

  it('a retained publish on a reading topic is refused and never kept; a retained status is fine', async () => {
    const broker = await startBroker({ port: 0, logger: pino({ level: 'silent' }) });
    const clients: MqttClient[] = [];
    try {
      const dev = await mqtt.connectAsync(broker.url, { clientId: 'ret-dev', reconnectPeriod: 0 });
      clients.push(dev);
      const gone = new Promise<void>((r) => dev.once('close', () => r()));
      dev.publish('vg/v1/p1/ret-dev/hr', '{"seq":1,"ts":1764547200000,"values":{"hr":70}}', { qos: 1, retain: true });
      await gone;
      const dev2 = await mqtt.connectAsync(broker.url, { clientId: 'ret-dev2', reconnectPeriod: 0 });
      clients.push(dev2);
      await dev2.publishAsync('vg/v1/p1/ret-dev2/status', '{"battery":80}', { qos: 1, retain: true });
      const gw = await mqtt.connectAsync(broker.url, { clientId: 'ret-gw', reconnectPeriod: 0 });
      clients.push(gw);
      const got: string[] = [];
      gw.on('message', (t) => got.push(t));
      await gw.subscribeAsync('vg/v1/p1/#', { qos: 1 });
      await sleep(300);
      assert.deepEqual(got, ['vg/v1/p1/ret-dev2/status']);
      assert.equal(broker.stats().rules.retainedReadingsRefused, 1);
      // A will that would retain a reading is refused at CONNECT.
      await assert.rejects(mqtt.connectAsync(broker.url, { clientId: 'ret-will', reconnectPeriod: 0, will: { topic: 'vg/v1/p1/ret-will/hr', payload: Buffer.from('{}'), qos: 1, retain: true } }), (e: Error & { code?: number }) => e.code === 5);
    } finally {
      await Promise.all(clients.map((c) => c.endAsync(true)));
      await broker.close();
    }
  });

  it('a will outside the device\'s publish rules is refused at CONNECT (5), logged and counted; its own status topic is fine', async () => {
    const registry = new Registry();
    const secrets = {
      d1: (await registry.addDevice('d1', 'p1', ['hr'], FAST)).secret,
    };
    const logs: Array<Record<string, unknown>> = [];
    const policy = createRegistryPolicy(registry, { logger: pino({ level: 'info' }, { write: (s: string) => void logs.push(JSON.parse(s) as Record<string, unknown>) }) });
    const broker = await startBroker({ port: 0, policy });
    try {
      const opts = (topic: string) => ({ clientId: 'd1', username: 'd1', password: secrets.d1, reconnectPeriod: 0, will: { topic, payload: Buffer.from('{"seq":9,"ts":1764547200000,"values":{"hr":180}}'), qos: 1 as const, retain: false } });
      await assert.rejects(mqtt.connectAsync(broker.url, opts('vg/v1/p2/d1/hr')), (e: Error & { code?: number }) => e.code === 5);
      await assert.rejects(mqtt.connectAsync(broker.url, opts('vg/v1/p1/other-device/hr')), (e: Error & { code?: number }) => e.code === 5);
      const ok = await mqtt.connectAsync(broker.url, opts('vg/v1/p1/d1/status'));
      await ok.endAsync();
      const s = policy.stats();
      assert.equal(s.byReason['connect:will-other-patient'], 1);
      assert.equal(s.byReason['connect:will-other-device'], 1);
      assert.ok(logs.some((l) => l.reason === 'will-other-patient' && l.action === 'connect'));
    } finally {
      policy.close();
      await broker.close();
    }
  });

  it('black box: a stored will of a since-revoked device is not published after a SIGKILL and restart; a legitimate one is', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vg-will-'));
    const regPath = join(dir, 'registry.json');
    const persist = join(dir, 'journal');
    const registry = new Registry();
    const secrets = {
      mallory: (await registry.addDevice('mallory', 'p1', ['hr'], FAST)).secret,
      honest: (await registry.addDevice('honest', 'p2', ['hr'], FAST)).secret,
      gw: (await registry.addGateway('gw', ['p1', 'p2'], FAST)).secret,
    };
    await registry.save(regPath);
    const port = await freePort();
    const url = `mqtt://127.0.0.1:${port}`;
    const args = [CLI, 'broker', '--port', String(port), '--registry', regPath, '--persistence-dir', persist, '--heartbeat-ms', '200', '--log-level', 'warn'];
    let broker: Proc | undefined = await startProcess(process.execPath, args, /"event":"listening"/);
    const clients: MqttClient[] = [];
    try {
      const gw = await mqtt.connectAsync(url, { clientId: 'gw', username: 'gw', password: secrets.gw, clean: false, reconnectPeriod: 300 });
      clients.push(gw);
      await gw.subscribeAsync(['vg/v1/p1/+/+', 'vg/v1/p2/+/+'], { qos: 1 });
      const got: Array<{ topic: string; payload: string }> = [];
      gw.on('message', (topic, payload) => got.push({ topic, payload: payload.toString() }));
      // Both set wills on their own topics (allowed at CONNECT); then the broker dies with them connected.
      const will = (id: string, patient: string) => ({ topic: `vg/v1/${patient}/${id}/hr`, payload: Buffer.from('{"seq":9,"ts":1764547200000,"values":{"hr":180}}'), qos: 1 as const, retain: false });
      const m = await mqtt.connectAsync(url, { clientId: 'mallory', username: 'mallory', password: secrets.mallory, reconnectPeriod: 0, will: will('mallory', 'p1') });
      const h = await mqtt.connectAsync(url, { clientId: 'honest', username: 'honest', password: secrets.honest, reconnectPeriod: 0, will: will('honest', 'p2') });
      clients.push(m, h);
      await broker.kill('SIGKILL');
      broker = undefined;
      // Mallory is revoked while the broker is down; its stored will now speaks for nobody.
      const reg = await Registry.load(regPath);
      reg.revoke('mallory');
      await reg.save(regPath);
      broker = await startProcess(process.execPath, args, /"event":"listening"/);
      // The sweep runs every 4 heartbeats (800 ms); wait for several.
      const deadline = Date.now() + 8000;
      while (!got.some((g) => g.topic.includes('/honest/')) && Date.now() < deadline) await sleep(100);
      await sleep(1500);
      assert.deepEqual(got.map((g) => g.topic), ['vg/v1/p2/honest/hr'], 'only the will of the device that may still publish there');
      // The journal is readings at rest: 0600 files in a 0700 directory.
      assert.equal((await stat(persist)).mode & 0o777, 0o700);
      for (const f of await readdir(persist)) assert.equal((await stat(join(persist, f))).mode & 0o777, 0o600, f);
    } finally {
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
      await broker?.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('failed logins are limited per (id, address) and only failures are charged: a flood from 127.0.0.2 does not lock the device out of 127.0.0.1', async () => {
    const registry = new Registry();
    const secret = (await registry.addDevice('victim', 'p1', ['hr'], FAST)).secret;
    const policy = limitConnectAttempts(createRegistryPolicy(registry, { logger: pino({ level: 'silent' }) }), { perUsername: { perSecond: 0.5, burst: 3 } });
    const broker = await startBroker({ port: 0, policy });
    try {
      const codes: number[] = [];
      for (let i = 0; i < 8; i++) codes.push(await loginFrom(broker.port, '127.0.0.2', 'victim', 'wrong'));
      assert.deepEqual(codes.slice(0, 3), [4, 4, 4], 'wrong passwords are refused as such');
      assert.ok(codes.slice(3).every((c) => c === 3), `after the burst the attacker's address gets CONNACK 3: ${codes.join(',')}`);
      // The real device, from its own address, logs in at once, and again and again: successes are not charged.
      for (let i = 0; i < 6; i++) assert.equal(await loginFrom(broker.port, '127.0.0.1', 'victim', secret), 0);
      // A wrong password from the device's address is still refused as a wrong password, not locked out.
      assert.equal(await loginFrom(broker.port, '127.0.0.1', 'victim', 'typo'), 4);
      assert.ok(policy.connectLimitStats().refused >= 5);
    } finally {
      policy.close();
      await broker.close();
    }
  });

  it('a WebSocket frame larger than the packet cap is refused by ws before it is buffered', async () => {
    const wsPort = await freePort();
    const broker = await startBroker({ listeners: [{ protocol: 'ws', host: '127.0.0.1', port: wsPort }], maxPacketBytes: 64 * 1024 });
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${wsPort}/mqtt`, 'mqtt');
      await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
      const code = await new Promise<number>((resolve) => {
        ws.once('close', (c) => resolve(c));
        ws.send(Buffer.alloc(200 * 1024, 0x30));
      });
      assert.equal(code, 1009, 'close code 1009: message too big');
    } finally {
      await broker.close();
    }
  });

  it('the broker journal is mode 0600 in a 0700 directory, even when the directory was made laxer', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vg-journal-'));
    try {
      const { chmod } = await import('node:fs/promises');
      await chmod(dir, 0o755);
      const p = await openFilePersistence({ dir });
      assert.equal((await stat(dir)).mode & 0o777, 0o700);
      for (const f of await readdir(dir)) assert.equal((await stat(join(dir, f))).mode & 0o777, 0o600, f);
      await p.destroy();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
