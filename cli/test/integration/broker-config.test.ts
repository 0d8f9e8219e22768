/**
 * `vitalgate broker --config`: the schema's errors, the exposure rules, and a real deployment
 * shape (mqtts with client certificates, WebSocket, metrics) driven by the real Mosquitto clients.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { readFileSync } from 'node:fs';
import { encodeBody } from '@vitalgate/protocol';
import { makeTestPki, requireProgram } from '@vitalgate/test-support';
import { vitalgate } from '../cli.js';
import { startDaemon, type Daemon } from '../daemon.js';

describe('vitalgate broker --config', function () {
  this.timeout(60_000);
  let dir: string;
  let daemon: Daemon | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vg-broker-config-'));
  });
  afterEach(async () => {
    await daemon?.stop();
    daemon = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  const configFile = async (yaml: string): Promise<string> => {
    const p = join(dir, 'broker.yaml');
    await writeFile(p, yaml);
    return p;
  };

  it('names every invalid field and exits 2', async () => {
    const p = await configFile(`listeners:
  - { protocol: mqtts, port: 8883 }
  - { protocol: ws, port: 70000 }
redis: localhost:6379
limits: { maxPayloadBytes: 10 }
colour: blue
`);
    const r = await vitalgate(['broker', '--config', p]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`config ${p.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is invalid`));
    assert.match(r.stderr, /listeners\.0\.tls: a mqtts listener needs tls: \{cert, key\}/);
    assert.match(r.stderr, /listeners\.1\.port:/);
    assert.match(r.stderr, /redis: must be a redis:\/\/host:port URL/);
    assert.match(r.stderr, /limits\.maxPayloadBytes:/);
    assert.match(r.stderr, /colour/);
  });

  it('refuses plain text or no identity on a non-loopback address', async () => {
    const reg = join(dir, 'reg.json');
    assert.equal((await vitalgate(['devices', 'add', 'd1', '--patient', 'p1', '--registry', reg])).code, 0);
    const plain = await vitalgate(['broker', '--config', await configFile(`listeners: [{ protocol: ws, host: 0.0.0.0, port: 0 }]\nregistry: ${reg}\n`)]);
    assert.equal(plain.code, 2);
    assert.match(plain.stderr, /refusing plain ws on 0\.0\.0\.0: secrets would cross the network in clear/);
    const open = await vitalgate(['broker', '--host', '0.0.0.0', '--port', '0', '--allow-plaintext']);
    assert.equal(open.code, 2);
    assert.match(open.stderr, /without a registry/);
    const noTls = await vitalgate(['broker', '--port', 'off', '--tls-port', '0']);
    assert.equal(noTls.code, 2);
    assert.match(noTls.stderr, /--tls-port and --wss-port need --tls-cert and --tls-key/);
  });

  it('--help documents the listeners, mutual TLS and the config schema', async () => {
    const r = await vitalgate(['broker', '--help']);
    assert.equal(r.code, 0);
    for (const m of ['--config', '--tls-port', '--ws-port', '--wss-port', '--tls-ca', '--client-certs', '--metrics-port', '--allow-plaintext', '--persistence-dir', 'clientCerts', 'publishRate', 'maxConcurrentAuth', 'connectAttempts', 'maxPacketBytes']) {
      assert.ok(r.stdout.includes(m), `broker --help lacks ${m}`);
    }
  });

  it('runs mqtts with client certificates, ws and metrics from a file; Mosquitto clients log in by certificate and by password', async function () {
    const pub = requireProgram(this, 'mosquitto_pub', 'mosquitto-clients');
    const sub = requireProgram(this, 'mosquitto_sub', 'mosquitto-clients');
    const pki = makeTestPki(this);
    const reg = join(dir, 'reg.json');
    assert.equal((await vitalgate(['devices', 'add', 'band-1', '--patient', 'pat-1', '--streams', 'hr', '--registry', reg])).code, 0);
    const gw = (await vitalgate(['gateways', 'add', 'gw-1', '--patients', 'pat-1', '--registry', reg])).stdout.trim();
    const p = await configFile(`listeners:
  - { protocol: mqtts, port: 0, tls: { cert: ${pki.serverCert}, key: ${pki.serverKey}, ca: ${pki.caCert}, clientCerts: optional } }
  - { protocol: ws, port: 0 }
registry: ${reg}
limits: { maxPayloadBytes: 4096, publishRate: { perSecond: 50, burst: 100 } }
metrics: { port: 0 }
logLevel: warn
`);
    daemon = await startDaemon(['broker', '--config', p]);
    const ls = daemon.first.listeners as Array<{ protocol: string; port: number; url: string }>;
    assert.deepEqual(ls.map((l) => l.protocol), ['mqtts', 'ws']);
    assert.match(ls[1]!.url, /^ws:\/\/127\.0\.0\.1:\d+\/mqtt$/);
    const tlsPort = String(ls[0]!.port);

    const s = spawn('stdbuf', ['-oL', sub, '-d', '-v', '-h', '127.0.0.1', '-p', tlsPort, '--cafile', pki.caCert, '-i', 'gw-1', '-u', 'gw-1', '-P', gw, '-t', 'vg/v1/pat-1/+/+', '-q', '1', '-C', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const subscribed = new Promise<void>((resolve) => s.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; if (/Subscribed/.test(out)) resolve(); }));
    const done = new Promise<number | null>((resolve) => s.once('close', resolve));
    const kill = setTimeout(() => s.kill('SIGKILL'), 20_000);
    try {
      await Promise.race([subscribed, done.then(() => { throw new Error(`mosquitto_sub ended: ${out}`); })]);
      const cc = pki.client('band-1');
      // No username or password: the certificate is the identity.
      const p1 = spawn(pub, ['-h', '127.0.0.1', '-p', tlsPort, '--cafile', pki.caCert, '--cert', cc.cert, '--key', cc.key, '-i', 'band-1', '-t', 'vg/v1/pat-1/band-1/hr', '-m', '{"bpm":61}', '-q', '1'], { stdio: 'ignore' });
      assert.equal(await new Promise((r) => p1.once('close', r)), 0);
      assert.equal(await done, 0);
      assert.match(out, /vg\/v1\/pat-1\/band-1\/hr \{"bpm":61\}/);
    } finally {
      clearTimeout(kill);
      s.kill('SIGKILL');
    }
    // A certificate from a CA the broker does not trust gets nothing.
    const forged = pki.forged('band-1');
    const p2 = spawn(pub, ['-h', '127.0.0.1', '-p', tlsPort, '--cafile', pki.caCert, '--cert', forged.cert, '--key', forged.key, '-i', 'band-1', '-t', 'vg/v1/pat-1/band-1/hr', '-m', 'x', '-q', '1'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err2 = '';
    p2.stderr.setEncoding('utf8').on('data', (d: string) => (err2 += d));
    assert.notEqual(await new Promise((r) => p2.once('close', r)), 0);
    assert.match(err2, /not authori[sz]ed|bad user name or password/i);

    const metrics = await (await fetch(daemon.first.metrics as string)).text();
    assert.match(metrics, /^vitalgate_broker_messages_in_total 1$/m);
    assert.match(metrics, /^vitalgate_broker_denials\{action="connect",reason="missing-credentials"\} 1$/m);
  });

  it('a gateway logs in by client certificate over mqtts and seals exactly what a certificate-authenticated device sent', async function () {
    const pki = makeTestPki(this);
    const reg = join(dir, 'reg.json');
    assert.equal((await vitalgate(['devices', 'add', 'band-1', '--patient', 'pat-1', '--streams', 'hr', '--registry', reg])).code, 0);
    assert.equal((await vitalgate(['gateways', 'add', 'gw-1', '--patients', 'pat-1', '--registry', reg])).code, 0);
    daemon = await startDaemon(['broker', '--registry', reg, '--port', 'off', '--tls-port', '0', '--tls-cert', pki.serverCert, '--tls-key', pki.serverKey, '--tls-ca', pki.caCert, '--log-level', 'warn']);
    const url = String(daemon.first.url);
    assert.match(url, /^mqtts:/);
    const env = { VITALGATE_PASSPHRASE_FILE: join(dir, 'pass') };
    await writeFile(join(dir, 'pass'), 'mtls e2e passphrase\n', { mode: 0o600 });
    const data = join(dir, 'data');
    const gc = pki.client('gw-1');
    let gwLog = '';
    const gateway = await startDaemon(['gateway', '--broker', url, '--client-id', 'gw-1', '--patient', 'pat-1', '--mqtt-ca', pki.caCert, '--mqtt-cert', gc.cert, '--mqtt-key', gc.key, '--data-dir', data, '--batch-window-ms', '300', '--log-level', 'warn'], env);
    try {
      const dc = pki.client('band-1');
      const dev = await mqtt.connectAsync(url, { clientId: 'band-1', ca: readFileSync(pki.caCert), cert: readFileSync(dc.cert), key: readFileSync(dc.key), reconnectPeriod: 0 });
      const t0 = Date.UTC(2026, 10, 21, 12);
      for (let seq = 0; seq < 50; seq++) {
        await dev.publishAsync('vg/v1/pat-1/band-1/hr', Buffer.from(encodeBody({ seq, ts: t0 + seq * 1000, values: { hr: 60 + (seq % 30) } })), { qos: 1 });
      }
      await dev.endAsync();
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      assert.equal(await gateway.stop(), 0, gateway.stderr());
    }
    gwLog = gateway.stderr();
    const open = await vitalgate(['open', '--data-dir', data, '--json'], env);
    assert.equal(open.code, 0, open.stderr);
    assert.ok(open.stdout.trim(), `nothing sealed; gateway log:\n${gwLog}\nbroker log:\n${daemon.stderr()}`);
    const got = open.stdout.trim().split('\n').map((l) => JSON.parse(l) as { deviceId: string; seq: number; values: { hr: number } });
    assert.deepEqual(got.map((r) => r.seq).sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i), 'every reading exactly once, none invented');
    for (const r of got) assert.equal(r.values.hr, 60 + (r.seq % 30));
  });

  it('--persistence-dir: an offline gateway session and its QoS 1 backlog survive SIGKILL of the broker', async () => {
    const pdir = join(dir, 'broker-state');
    daemon = await startDaemon(['broker', '--port', '0', '--persistence-dir', pdir, '--log-level', 'warn']);
    const url = String(daemon.first.url);
    const gw = await mqtt.connectAsync(url, { clientId: 'gw-durable', clean: false, reconnectPeriod: 0 });
    await gw.subscribeAsync('vg/v1/p1/+/+', { qos: 1 });
    await gw.endAsync();
    const dev = await mqtt.connectAsync(url, { clientId: 'dev-durable', reconnectPeriod: 0 });
    for (let seq = 0; seq < 200; seq++) await dev.publishAsync('vg/v1/p1/d1/hr', JSON.stringify({ seq }), { qos: 1 });
    await dev.endAsync(true);
    // Every publish above was acknowledged: the broker dies without a chance to flush anything.
    await daemon.stop('SIGKILL');
    daemon = await startDaemon(['broker', '--port', String(new URL(url).port), '--persistence-dir', pdir, '--log-level', 'warn']);
    const got: number[] = [];
    const back = await mqtt.connectAsync(url, { clientId: 'gw-durable', clean: false, reconnectPeriod: 0 });
    back.on('message', (_t, m) => got.push((JSON.parse(m.toString()) as { seq: number }).seq));
    const t0 = Date.now();
    while (new Set(got).size < 200 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 50));
    await back.endAsync();
    assert.deepEqual([...new Set(got)].sort((a, b) => a - b), Array.from({ length: 200 }, (_, i) => i), 'every acknowledged message, after the crash');
    assert.deepEqual(got.slice(0, 200), Array.from({ length: 200 }, (_, i) => i), 'in order');
    const both = await vitalgate(['broker', '--port', '0', '--persistence-dir', pdir, '--redis', 'redis://127.0.0.1:1']);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--persistence-dir and --redis do not go together/);
    // Backpressure counts the queue in this process; with Redis it cannot, and a bound asked for is not silently dropped.
    const bounded = await vitalgate(['broker', '--port', '0', '--max-backlog', '1000', '--redis', 'redis://127.0.0.1:1']);
    assert.equal(bounded.code, 2);
    assert.match(bounded.stderr, /--max-backlog \(limits.maxBacklog\) does not go with --redis/);
  });
});
