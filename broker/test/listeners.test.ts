/**
 * The broker's listeners on real sockets: mqtts with a certificate made by the real `openssl`,
 * mutual TLS where the client certificate's CN is the device id, MQTT over WebSocket (ws and wss),
 * and the Prometheus endpoint.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import pino from 'pino';
import { makeTestPki, type TestPki } from '@vitalgate/test-support';
import { createRegistryPolicy, Registry, serveMetrics, startBroker, type RegistryPolicy, type RunningBroker } from '../src/index.js';

const FAST = { scrypt: { N: 1 << 10, r: 8, p: 1, dkLen: 32 } };
const quiet = pino({ level: 'silent' });

/** CONNACK return code of a refused connect, or 0 when accepted. */
async function connackCode(url: string, opts: IClientOptions): Promise<number> {
  try {
    const c = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
    await c.endAsync(true);
    return 0;
  } catch (e) {
    const code = (e as { code?: number }).code;
    if (typeof code === 'number') return code;
    throw e;
  }
}

describe('broker transports: TLS, client certificates, WebSocket, metrics', function () {
  this.timeout(30_000);
  let pki: TestPki;
  let registry: Registry;
  let policy: RegistryPolicy;
  let broker: RunningBroker;
  let secret = '';
  const clients: MqttClient[] = [];
  const url = (p: string): string => broker.listeners.find((l) => l.protocol === p)!.url;

  before(async function () {
    pki = makeTestPki(this);
    registry = new Registry();
    secret = (await registry.addDevice('d1', 'p1', ['hr'], FAST)).secret;
    await registry.addDevice('d2', 'p1', ['hr'], FAST);
    await registry.addGateway('g1', ['p1'], FAST);
    policy = createRegistryPolicy(registry, { logger: quiet });
    const tls = { cert: pki.serverCert, key: pki.serverKey, ca: pki.caCert, clientCerts: 'optional' as const };
    broker = await startBroker({
      logger: quiet,
      policy,
      listeners: [
        { protocol: 'mqtts', port: 0, tls },
        { protocol: 'ws', port: 0 },
        { protocol: 'wss', port: 0, tls },
        { protocol: 'mqtt', port: 0 },
      ],
    });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    policy?.close();
    await broker?.close();
  });

  const open = async (u: string, o: IClientOptions): Promise<MqttClient> => {
    const c = await mqtt.connectAsync(u, { reconnectPeriod: 0, connectTimeout: 5000, ...o });
    clients.push(c);
    return c;
  };

  it('speaks mqtts: the client verifies the broker against the CA, and the session works', async () => {
    assert.match(url('mqtts'), /^mqtts:\/\/127\.0\.0\.1:\d+$/);
    const c = await open(url('mqtts'), { clientId: 'd1', username: 'd1', password: secret, ca: readFileSync(pki.caCert), rejectUnauthorized: true });
    assert.ok(c.connected);
    // The negotiated channel really is TLS 1.2 or later.
    const sock = (c as unknown as { stream: { getProtocol?: () => string } }).stream;
    assert.match(sock.getProtocol?.() ?? '', /^TLSv1\.[23]$/);
  });

  it('closes a plain MQTT client on the TLS port without a CONNACK, and the broker carries on', async () => {
    const port = broker.listeners.find((l) => l.protocol === 'mqtts')!.port;
    const received = await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const sock = netConnect(port, '127.0.0.1', () => {
        // CONNECT, MQTT 3.1.1, clean session, keepalive 60, clientId "x".
        sock.write(Buffer.from([0x10, 0x0d, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x01, 0x78]));
      });
      sock.on('data', (d) => chunks.push(d));
      sock.on('close', () => resolve(Buffer.concat(chunks)));
      sock.on('error', () => undefined);
      setTimeout(() => reject(new Error('the TLS port kept a plain-text client open')), 5000).unref();
    });
    assert.notEqual(received[0], 0x20, 'no CONNACK over plain text');
    assert.equal(await connackCode(url('mqtts'), { clientId: 'd1', username: 'd1', password: secret, ca: readFileSync(pki.caCert) }), 0);
  });

  const waitFor = async (cond: () => boolean, ms = 5000): Promise<void> => {
    const t0 = Date.now();
    while (!cond()) {
      if (Date.now() - t0 > ms) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  it('mutual TLS: a CA-signed certificate with CN = device id logs in without a password, and is held to that device\'s ACL', async () => {
    const gSecret = (await registry.addGateway('g2', ['p1'], FAST)).secret;
    // The gateway comes in over MQTT-over-WebSocket: both transports reach the same sessions.
    const gw = await open(url('ws'), { clientId: 'g2', username: 'g2', password: gSecret });
    const got: string[] = [];
    gw.on('message', (t, m) => got.push(`${t} ${m.toString()}`));
    await gw.subscribeAsync('vg/v1/p1/+/+', { qos: 1 });
    const cc = pki.client('d2');
    const dev = await open(url('mqtts'), { clientId: 'd2', ca: readFileSync(pki.caCert), cert: readFileSync(cc.cert), key: readFileSync(cc.key) });
    await dev.publishAsync('vg/v1/p1/d2/hr', 'own-stream', { qos: 1 });
    await waitFor(() => got.length === 1);
    assert.deepEqual(got, ['vg/v1/p1/d2/hr own-stream']);
    // Outside its ACL (another device's subtree): dropped and disconnected, never delivered.
    const closed = new Promise<void>((r) => dev.once('close', () => r()));
    dev.publish('vg/v1/p1/d1/hr', 'spoofed', { qos: 1 });
    await closed;
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(got, ['vg/v1/p1/d2/hr own-stream']);
  });

  it('mutual TLS refuses a certificate whose CN is not the clientId (2), an unknown CN (5), and a certificate from another CA (no identity, so 4)', async () => {
    const ca = readFileSync(pki.caCert);
    const d2 = pki.client('d2');
    assert.equal(await connackCode(url('mqtts'), { clientId: 'd1', ca, cert: readFileSync(d2.cert), key: readFileSync(d2.key) }), 2);
    const d9 = pki.client('d9');
    assert.equal(await connackCode(url('mqtts'), { clientId: 'd9', ca, cert: readFileSync(d9.cert), key: readFileSync(d9.key) }), 5);
    const forged = pki.forged('d2');
    assert.equal(await connackCode(url('mqtts'), { clientId: 'd2', ca, cert: readFileSync(forged.cert), key: readFileSync(forged.key) }), 4);
    // A forged certificate plus the right password still gets in: the certificate added nothing.
    const f1 = pki.forged('d1');
    assert.equal(await connackCode(url('mqtts'), { clientId: 'd1', username: 'd1', password: secret, ca, cert: readFileSync(f1.cert), key: readFileSync(f1.key) }), 0);
    const reasons = policy.stats().byReason;
    assert.ok((reasons['connect:certificate-client-id-mismatch'] ?? 0) >= 1);
    assert.ok((reasons['connect:unknown-id'] ?? 0) >= 1);
  });

  it('revoking a certificate-authenticated device disconnects it at once and its certificate stops working', async () => {
    await registry.addDevice('d5', 'p1', ['hr'], FAST);
    const ca = readFileSync(pki.caCert);
    const cc = pki.client('d5');
    const dev = await open(url('mqtts'), { clientId: 'd5', ca, cert: readFileSync(cc.cert), key: readFileSync(cc.key) });
    const closed = new Promise<void>((r) => dev.once('close', () => r()));
    registry.revoke('d5');
    await closed;
    assert.equal(await connackCode(url('mqtts'), { clientId: 'd5', ca, cert: readFileSync(cc.cert), key: readFileSync(cc.key) }), 5);
  });

  it('speaks MQTT over secure WebSocket (wss) with path /mqtt', async () => {
    assert.match(url('wss'), /^wss:\/\/127\.0\.0\.1:\d+\/mqtt$/);
    const c = await open(url('wss'), { clientId: 'd1', username: 'd1', password: secret, ca: readFileSync(pki.caCert) });
    await c.publishAsync('vg/v1/p1/d1/hr', 'over-wss', { qos: 1 });
    assert.ok(c.connected);
  });

  it('a listener with clientCerts: required ends the TLS handshake of a client without a certificate', async () => {
    const strict = await startBroker({
      logger: quiet,
      policy,
      listeners: [{ protocol: 'mqtts', port: 0, tls: { cert: pki.serverCert, key: pki.serverKey, ca: pki.caCert, clientCerts: 'required' } }],
    });
    try {
      const ca = readFileSync(pki.caCert);
      await assert.rejects(mqtt.connectAsync(strict.url, { clientId: 'd1', username: 'd1', password: secret, ca, reconnectPeriod: 0, connectTimeout: 3000 }));
      const cc = pki.client('d1');
      assert.equal(await connackCode(strict.url, { clientId: 'd1', ca, cert: readFileSync(cc.cert), key: readFileSync(cc.key) }), 0);
    } finally {
      await strict.close();
    }
  });

  it('says which file is missing when a TLS listener cannot start', async () => {
    await assert.rejects(
      startBroker({ logger: quiet, listeners: [{ protocol: 'mqtts', port: 0, tls: { cert: '/nonexistent/broker.crt', key: pki.serverKey } }] }),
      /cannot read the TLS certificate \/nonexistent\/broker\.crt: ENOENT/,
    );
    await assert.rejects(startBroker({ logger: quiet, listeners: [{ protocol: 'wss', port: 0 }] }), /needs tls\.cert and tls\.key/);
  });

  it('serves Prometheus metrics: connections, messages in and out, denials by reason, dropped packets, queue depth', async () => {
    const m = await serveMetrics(broker.metrics.registry, 0);
    try {
      // A malformed packet on the plain port: dropped and counted.
      const plainPort = broker.listeners.find((l) => l.protocol === 'mqtt')!.port;
      await new Promise<void>((resolve) => {
        const sock = netConnect(plainPort, '127.0.0.1', () => sock.write(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f])));
        sock.on('close', () => resolve());
        sock.on('error', () => undefined);
      });
      const text = await (await fetch(m.url)).text();
      const value = (re: RegExp): number => Number(re.exec(text)?.[1] ?? NaN);
      assert.ok(value(/^vitalgate_broker_connections (\d+)$/m) >= 1, 'connections');
      assert.ok(value(/^vitalgate_broker_messages_in_total (\d+)$/m) >= 2, 'messages in');
      assert.ok(value(/^vitalgate_broker_messages_out_total (\d+)$/m) >= 1, 'messages out');
      assert.ok(value(/^vitalgate_broker_denials\{action="publish",reason="other-device"\} (\d+)$/m) >= 1, 'denials by reason');
      assert.ok(value(/^vitalgate_broker_dropped_total\{reason="malformed"\} (\d+)$/m) >= 1, `dropped malformed in:\n${text.split('\n').filter((l) => l.includes('dropped')).join('\n')}`);
      assert.match(text, /^vitalgate_broker_queue_depth \d+$/m);
      assert.match(text, /^vitalgate_broker_process_resident_memory_bytes \d+/m);
      assert.equal((await fetch(m.url.replace('/metrics', '/healthz'))).status, 200);
      assert.equal((await fetch(m.url.replace('/metrics', '/other'))).status, 404);
    } finally {
      await m.close();
    }
  });
});
