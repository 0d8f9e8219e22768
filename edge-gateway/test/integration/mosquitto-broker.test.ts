/**
 * The gateway against a real Mosquitto broker (Debian package "mosquitto", /usr/sbin/mosquitto) on
 * loopback with a password file and an ACL file: the gateway may read vg/v1/p1-0001/#, the device
 * may write vg/v1/p1-0001/d1-0001/#, anonymous clients are refused. A simulated device
 * (device-sim's Simulation, with credentials) streams readings; afterwards the sealed store is
 * opened and reconciled with what the broker acknowledged: every reading exactly once, none
 * invented. A publish outside the device's ACL never reaches the gateway, and a wrong password is
 * refused.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { encodeBody, readingTopic, type ReadingBody } from '@vitalgate/protocol';
import { Simulation, type SentReading } from '@vitalgate/device-sim';
import { findProgram, freePort, requireProgram } from '@vitalgate/test-support';
import { Gateway, readStore, type OpenedBatch } from '../../src/index.js';
import { memoryLogger, TEST_SCRYPT, tempDir } from '../helpers.js';

const PASS = 'mosquitto test passphrase';
const PATIENT = 'p1-0001';
const DEVICE = 'd1-0001';
const GW_USER = 'gw';
const DEV_USER = 'dev';

/** The simulator's signals can produce -0; on the wire (JSON, CBOR integers) it is 0. */
const zeroSigned = (v: unknown): unknown =>
  Object.is(v, -0) ? 0 : Array.isArray(v) ? v.map(zeroSigned) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, zeroSigned(x)])) : v;

/** Starts mosquitto with `conf` and resolves once it listens on `port`. */
function startMosquitto(bin: string, conf: string, port: number): Promise<{ child: ChildProcess; log: () => string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`mosquitto did not start: ${log}`));
    }, 10_000);
    const on = (d: Buffer) => {
      log += d.toString();
      if (new RegExp(`Opening ipv4 listen socket on port ${port}`).test(log)) {
        clearTimeout(timer);
        // The socket is open once the line is logged; give it a moment to listen.
        setTimeout(() => resolve({ child, log: () => log }), 100);
      }
    };
    child.stdout!.on('data', on);
    child.stderr!.on('data', on);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`mosquitto exited (${code}): ${log}`));
    });
  });
}

describe('gateway against a real Mosquitto broker (password file + ACL)', function () {
  this.timeout(60_000);
  let mosquitto: { child: ChildProcess; log: () => string } | undefined;
  let url = '';
  let dir: { dir: string; cleanup: () => Promise<void> };
  const secret = { [GW_USER]: 'gateway-secret-1', [DEV_USER]: 'device-secret-1' };

  before(async function () {
    // Debian installs the broker in /usr/sbin, which is not on every user's PATH.
    const bin = findProgram('mosquitto') ? requireProgram(this, 'mosquitto', 'mosquitto') : requireProgram(this, '/usr/sbin/mosquitto', 'mosquitto');
    const passwd = requireProgram(this, 'mosquitto_passwd', 'mosquitto');
    dir = await tempDir('vg-mosquitto-');
    const passwordFile = join(dir.dir, 'passwd');
    const aclFile = join(dir.dir, 'acl');
    await writeFile(passwordFile, '');
    await chmod(passwordFile, 0o600);
    for (const [user, pw] of Object.entries(secret)) {
      const r = spawnSync(passwd, ['-b', passwordFile, user, pw], { encoding: 'utf8' });
      assert.equal(r.status, 0, `mosquitto_passwd: ${r.stderr}`);
    }
    await writeFile(aclFile, [`user ${GW_USER}`, `topic read vg/v1/${PATIENT}/#`, '', `user ${DEV_USER}`, `topic write vg/v1/${PATIENT}/${DEVICE}/#`, ''].join('\n'));
    await chmod(aclFile, 0o600);
    const port = await freePort();
    const conf = join(dir.dir, 'mosquitto.conf');
    await writeFile(
      conf,
      [
        `listener ${port} 127.0.0.1`,
        'allow_anonymous false',
        `password_file ${passwordFile}`,
        `acl_file ${aclFile}`,
        'persistence false',
        // The gateway holds PUBACKs until durable (about a batch window): Mosquitto's default cap of
        // 20 in flight would throttle it, and its queue cap of 1000 would drop (docs/operations.md).
        'max_inflight_messages 0',
        'max_queued_messages 1000000',
        'log_dest stderr',
        'log_type error',
        'log_type warning',
        'log_type notice',
        'log_type information',
        // Started as root, mosquitto drops to user "mosquitto", which cannot read our 0600 files.
        ...(process.getuid?.() === 0 ? ['user root'] : []),
        '',
      ].join('\n'),
    );
    mosquitto = await startMosquitto(bin, conf, port);
    url = `mqtt://127.0.0.1:${port}`;
  });

  after(async () => {
    mosquitto?.child.kill('SIGTERM');
    await dir?.cleanup();
  });

  it('seals every reading the device had acknowledged exactly once, drops what the ACL forbids, and refuses a wrong password', async () => {
    const data = await tempDir();
    const { logger } = memoryLogger();
    try {
      const gw = await Gateway.start({
        dataDir: data.dir,
        passphrase: PASS,
        scrypt: TEST_SCRYPT,
        logger,
        brokerUrl: url,
        mqttUsername: GW_USER,
        mqttPassword: secret[GW_USER],
        patients: [PATIENT],
        batchWindowMs: 200,
      });

      // A wrong password (and no credentials at all) is refused: CONNACK 5 "not authorized".
      await assert.rejects(mqtt.connectAsync(url, { clientId: 'dev-wrong', username: DEV_USER, password: 'not-the-secret', reconnectPeriod: 0 }), (e: Error & { code?: number }) => e.code === 5 || e.code === 4);
      await assert.rejects(mqtt.connectAsync(url, { clientId: 'anon', reconnectPeriod: 0 }), (e: Error & { code?: number }) => e.code === 5 || e.code === 4);

      // The simulated device, streaming for 3 s with the device credentials.
      const sim = new Simulation({ brokerUrl: url, devices: 1, durationS: 3, devicePrefix: 'd1', patientPrefix: 'p1', encoding: 'mixed', username: DEV_USER, password: secret[DEV_USER], seed: 7 });
      const acked: SentReading[] = [];
      sim.on('acked', (r) => acked.push(r));
      sim.on('failed', (_r, err) => assert.fail(`a publish failed: ${err.message}`));
      // 'ended' comes once, when the last reading has been published, before the run resolves.
      const ended: number[] = [];
      sim.on('ended', () => ended.push(sim.stats().published));
      await sim.connect();
      await sim.run();
      assert.deepEqual(ended, [sim.stats().published], 'the devices said once that they stopped sending, after their last publish');

      // The same device credentials publishing outside their ACL: as another device of the patient,
      // and as a device of another patient. Mosquitto acknowledges and drops them (MQTT 3.1.1 has no
      // way to refuse one publish), so the gateway must never see them.
      const rogue = await mqtt.connectAsync(url, { clientId: 'rogue', username: DEV_USER, password: secret[DEV_USER], reconnectPeriod: 0 });
      const forged: ReadingBody = { seq: 999_999, ts: Date.now(), values: { hr: 200 } };
      await rogue.publishAsync(readingTopic(PATIENT, 'intruder', 'hr'), Buffer.from(encodeBody(forged, 'json')), { qos: 1 });
      await rogue.publishAsync(readingTopic('p2', DEVICE, 'hr'), Buffer.from(encodeBody(forged, 'json')), { qos: 1 });
      await rogue.endAsync();

      await new Promise((r) => setTimeout(r, 500)); // the last readings cross the broker
      await sim.close();
      await gw.stop();

      const m = gw.metrics();
      assert.ok(acked.length >= 20, `the device sent a real stream (${acked.length} readings)`);
      assert.equal(m.rejected, 0, `nothing malformed arrived: ${JSON.stringify(m.rejectedByReason)}`);
      assert.equal(m.messagesReceived, acked.length, 'the gateway received exactly the acknowledged readings, nothing forged');

      const batches: OpenedBatch[] = [];
      for await (const b of readStore(data.dir, PASS)) batches.push(b);
      assert.ok(batches.every((b) => b.ok), 'every batch opens and verifies');
      const stored = batches.flatMap((b) => (b.ok ? b.bodies.map((body) => ({ h: b.header, body })) : []));
      const key = (patient: string, device: string, stream: string, seq: number) => `${patient}/${device}/${stream}#${seq}`;
      const sent = new Map(acked.map((r) => [key(r.patientId, r.deviceId, r.stream, r.body.seq), r.body]));
      const seen = new Map<string, number>();
      for (const r of stored) {
        const k = key(r.h.patientId, r.h.deviceId, r.h.stream, r.body.seq);
        seen.set(k, (seen.get(k) ?? 0) + 1);
        assert.ok(sent.has(k), `stored reading ${k} was never sent`);
        assert.deepEqual(zeroSigned(r.body), zeroSigned(sent.get(k)), `stored reading ${k} differs from what was sent`);
      }
      assert.deepEqual([...sent.keys()].filter((k) => seen.get(k) !== 1), [], 'readings not stored exactly once');
      assert.ok(!stored.some((r) => r.h.deviceId === 'intruder' || r.h.patientId === 'p2'), 'nothing outside the ACL was stored');
      assert.match(mosquitto!.log(), /not authori[sz]ed|Client dev-wrong disconnected/i, 'mosquitto logged the refused login');
    } finally {
      await data.cleanup();
    }
  });
});
