import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { vitalgate } from '../cli.js';

const physionet = (r: string) => fileURLToPath(new URL(`../../../../../shared/data/physionet/${r}.hea`, import.meta.url));

describe('vitalgate wfdb info', function () {
  this.timeout(60_000);
  for (const [rec, fs, samples, n] of [['100', 360, 650000, 2], ['v102s', 250, 75000, 4], ['test01_00s', 500, 4000, 4]] as const) {
    it(`reads ${rec} and every signal matches its header checksum`, async () => {
      const r = await vitalgate(['wfdb', 'info', physionet(rec), '--json']);
      assert.equal(r.code, 0, r.stderr);
      const info = JSON.parse(r.stdout) as { record: string; fs: number; samples: number; signals: Array<{ checksum: number; computedChecksum: number; first: number[]; initialValue: number; description: string }> };
      assert.equal(info.record, rec);
      assert.equal(info.fs, fs);
      assert.equal(info.samples, samples);
      assert.equal(info.signals.length, n);
      for (const s of info.signals) {
        assert.equal(s.computedChecksum, s.checksum, s.description);
        assert.equal(s.first.length, 5);
        assert.equal(s.first[0], s.initialValue);
      }
    });
  }
  it('fails clearly on a missing record', async () => {
    const r = await vitalgate(['wfdb', 'info', '/nonexistent/rec.hea']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /rec\.hea/);
  });
});

describe('vitalgate decode', () => {
  it('decodes a GATT heart-rate value from the shared vectors', async () => {
    const r = await vitalgate(['decode', 'gatt', '0x2A37', '1e5532002100']);
    assert.equal(r.code, 0, r.stderr);
    const v = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual(v.heartRate, { value: 85, unit: '/min' });
    assert.deepEqual(v.energyExpended, { value: 50, unit: 'kJ' });
    assert.deepEqual(v.rrIntervals1024, { values: [33], unit: 's/1024' });
    assert.deepEqual(v.rrIntervalsS, { values: [33 / 1024], unit: 's' });
    assert.deepEqual(v.rrIntervalsMs, { values: [32.2265625], unit: 'ms' });
  });
  it('prints the shared temperature, blood-pressure and SpO2 vectors in their units', async () => {
    const vectors = (JSON.parse(await readFile(new URL('../../../../../shared/vectors/gatt.json', import.meta.url), 'utf8')) as { vectors: Array<{ uuid: string; hex: string; expect?: Record<string, unknown> }> }).vectors;
    const pick = (uuid: string) => vectors.find((x) => x.uuid === uuid && x.expect)!;
    for (const [uuid, field, unit] of [['2a1c', 'temperature', 'Cel'], ['2a35', 'systolic', 'mm[Hg]'], ['2a5f', 'spo2', '%']] as const) {
      const vec = pick(uuid);
      const r = await vitalgate(['decode', 'gatt', uuid, vec.hex]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual((JSON.parse(r.stdout) as Record<string, unknown>)[field], { value: vec.expect![field], unit }, `${uuid} ${field}`);
      assert.doesNotMatch(r.stdout, /"(?!value")[^"]*":\s*-?\d/, 'no number outside a {value, unit} object');
    }
  });
  it('exits 2 with a clear message on invalid GATT input', async () => {
    for (const args of [['2a37', '170101'], ['2a37', 'zz'], ['2aff', '00'], ['2a1c', '06b00e00fedc070c050b321b']]) {
      const r = await vitalgate(['decode', 'gatt', ...args]);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, /^vitalgate decode: .+/);
      assert.equal(r.stdout, '');
    }
  });
  it('decodes a UART frame from the documented vectors, and refuses a flipped bit', async () => {
    const wire = '0b01100773747261702d310101020701010107075bd1d0570101032ad400';
    const r = await vitalgate(['decode', 'frame', wire]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { battery: number }).battery, 87);
    const bad = await vitalgate(['decode', 'frame', wire.replace('57', '56')]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /CRC mismatch/);
  });
});

describe('vitalgate gateway --config', () => {
  it('names every invalid field of a bad config file and exits 2', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vg-cfg-'));
    try {
      await writeFile(join(dir, 'gw.yaml'), 'mqtt: { url: http://x }\nserial:\n  - { path: /dev/ttyUSB0, patient: "bad id" }\nble:\n  - { radio: bluetooth, patient: p }\nbatchWindowMs: 1\nsurprise: true\n');
      const r = await vitalgate(['gateway', '--config', join(dir, 'gw.yaml')]);
      assert.equal(r.code, 2);
      for (const f of ['mqtt.url', 'serial.0.patient', 'ble.0.radio', 'batchWindowMs', 'surprise']) assert.ok(r.stderr.includes(f), `${f} not named in:\n${r.stderr}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
  it('says clearly that BLE needs an adapter on a machine without one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vg-ble-'));
    try {
      await writeFile(join(dir, 'pass'), 'a passphrase for this test\n', { mode: 0o600 });
      const r = await vitalgate(['gateway', '--broker', 'none', '--ble', 'noble@patient-1=C8:4B:00:11:22:33', '--data-dir', join(dir, 'd'), '--passphrase-file', join(dir, 'pass')], {}, 60_000);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /BLE needs the optional package @abandonware\/noble and a Bluetooth adapter/);
      // A real radio without the patient's device addresses is refused before it listens.
      const open = await vitalgate(['gateway', '--broker', 'none', '--ble', 'noble@patient-1', '--data-dir', join(dir, 'd2'), '--passphrase-file', join(dir, 'pass')], {}, 60_000);
      assert.equal(open.code, 2);
      assert.match(open.stderr, /needs the addresses of the patient's own devices \(--ble noble@patient-1=/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('no credentials in printed URLs', function () {
  this.timeout(60_000);
  it('a gateway pointed at a broker URL with a password never prints the password', async () => {
    const { startBroker } = await import('@vitalgate/broker');
    const { startDaemon } = await import('../daemon.js');
    const dir = await mkdtemp(join(tmpdir(), 'vg-redact-'));
    const broker = await startBroker({ port: 0 });
    try {
      await writeFile(join(dir, 'pass'), 'redaction test passphrase', { mode: 0o600 });
      const url = `mqtt://gw:s3cret-in-url@127.0.0.1:${broker.port}`;
      const gw = await startDaemon(['gateway', '--broker', url, '--data-dir', join(dir, 'data'), '--passphrase-file', join(dir, 'pass'), '--log-level', 'debug']);
      const ready = JSON.stringify(gw.first);
      assert.equal(await gw.stop('SIGTERM'), 0);
      assert.ok(!ready.includes('s3cret-in-url'), ready);
      assert.ok(!gw.stderr().includes('s3cret-in-url'), gw.stderr());
      assert.ok(ready.includes('gw:***@127.0.0.1'), ready);
    } finally {
      await broker.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('one writer per data directory (CLI)', function () {
  this.timeout(60_000);
  it('a second `vitalgate gateway` on a locked directory exits 2 naming the holder; `epoch rotate` signals only the live gateway, never a reused pid', async () => {
    const { startDaemon } = await import('../daemon.js');
    const dir = await mkdtemp(join(tmpdir(), 'vg-lock-'));
    try {
      await writeFile(join(dir, 'pass'), 'lock test passphrase', { mode: 0o600 });
      const args = ['gateway', '--broker', 'none', '--data-dir', join(dir, 'data'), '--passphrase-file', join(dir, 'pass')];
      const gw = await startDaemon(args);
      const second = await vitalgate(args, {}, 30_000);
      assert.equal(second.code, 2, second.stderr);
      assert.match(second.stderr, new RegExp(`in use by pid ${gw.child.pid} \\(vitalgate gateway`));
      const recover = await vitalgate(['keys', 'recover', '--data-dir', join(dir, 'data'), '--vault', join(dir, 'none.json'), '--from', join(dir, 'none.hea'), '--passphrase-file', join(dir, 'pass')]);
      assert.equal(recover.code, 2, recover.stderr);
      assert.match(recover.stderr, /in use by pid \d+ \(vitalgate gateway/);
      const rotated = await vitalgate(['epoch', 'rotate', '--data-dir', join(dir, 'data')]);
      assert.equal(rotated.code, 0, rotated.stderr);
      assert.match(rotated.stdout, new RegExp(`asked gateway ${gw.child.pid}`));
      assert.equal(await gw.stop('SIGTERM'), 0, gw.stderr());
      assert.match(gw.stderr(), /epoch rotated/);
      // A lock left by a process whose pid now belongs to someone else (here: this test runner).
      await writeFile(join(dir, 'data', 'lock'), JSON.stringify({ pid: process.pid, startTime: 1, purpose: 'gateway', since: 1 }));
      const reused = await vitalgate(['epoch', 'rotate', '--data-dir', join(dir, 'data')]);
      assert.equal(reused.code, 2);
      assert.match(reused.stderr, /no longer running; the pid is stale or reused, so nothing was signalled/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
