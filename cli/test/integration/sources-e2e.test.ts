/**
 * Four kinds of source through one gateway, each a separate process as in production:
 * an MQTT wearable, a chest strap on a real pseudo-terminal (socat), a BLE pulse oximeter over the
 * BLE-sim link, and a PhysioNet recording replayed over MQTT. Faults damage some frames on purpose.
 * Everything the devices delivered must come back from `vitalgate open` exactly once, unchanged;
 * nothing damaged, and nothing else, may appear.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, requireProgram, socatPair, type PtyPair } from '@vitalgate/test-support';
import { vitalgate } from '../cli.js';
import { startDaemon, type Daemon } from '../daemon.js';

interface Line extends Record<string, unknown> { transport?: string; patientId: string; deviceId: string; stream: string; seq: number; ts: number }
const strip = (r: Record<string, unknown>) => {
  const { transport: _t, patientId: _p, deviceId: _d, stream: _s, batchId: _b, epoch: _e, seq: _q, ts: _ts, ...rest } = r;
  return rest;
};

describe('end to end: MQTT, serial (socat), BLE-sim and WFDB replay through one gateway', function () {
  this.timeout(120_000);
  let dir: string;
  let pty: PtyPair | undefined;
  let broker: Daemon | undefined;
  let gateway: Daemon | undefined;

  before(async function () {
    const socat = requireProgram(this, 'socat', 'socat');
    dir = await mkdtemp(join(tmpdir(), 'vg-sources-'));
    pty = await socatPair({ socatPath: socat, links: [join(dir, 'tty-device'), join(dir, 'tty-gateway')] });
  });
  after(async () => {
    await gateway?.stop('SIGKILL');
    await broker?.stop('SIGKILL');
    await pty?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('reconciles every delivered reading of every source exactly', async () => {
    const env = { VITALGATE_PASSPHRASE_FILE: join(dir, 'pass') };
    await writeFile(join(dir, 'pass'), 'sources e2e passphrase\n', { mode: 0o600 });
    const blePort = await freePort();
    broker = await startDaemon(['broker', '--port', '0']);
    const url = String(broker.first.url);
    const data = join(dir, 'data');
    gateway = await startDaemon([
      'gateway', '--broker', url, '--data-dir', data, '--log-level', 'warn',
      '--serial', `${join(dir, 'tty-gateway')}@patient-strap`,
      '--ble', `ble-sim://127.0.0.1:${blePort}@patient-oxi`,
      '--batch-window-ms', '500',
    ], env);
    await writeFile(join(dir, 'scenario.yaml'), [
      'name: four-sources',
      'durationS: 8',
      `bleSimPort: ${blePort}`,
      'statusEveryS: 2',
      'devices:',
      '  - { id: band-1, patient: patient-band, profile: mixed, transport: mqtt, encoding: json }',
      `  - { id: strap-1, patient: patient-strap, profile: chest-strap, transport: serial, port: ${join(dir, 'tty-device')}, clockSkewMs: -3600000 }`,
      '  - { id: oxi-1, patient: patient-oxi, profile: vitals, transport: ble-sim }',
      '  - { id: oxi-2, patient: patient-oxi, profile: pulse-ox, transport: ble-sim }',
      '  - { id: rec-v102s, patient: patient-rec, replay: /dev/null, transport: mqtt }',
      'faults:',
      '  - { kind: corrupt, devices: [strap-1, band-1], probability: 0.05 }',
      '  - { kind: disconnect, devices: [band-1], at: 2, for: 2 }',
    ].join('\n').replace('/dev/null', new URL('../../../../../shared/data/physionet/v102s.hea', import.meta.url).pathname) + '\n');
    const sentLog = join(dir, 'sent.jsonl');
    const sim = await vitalgate(['sim', 'run', join(dir, 'scenario.yaml'), '--broker', url, '--sent-log', sentLog, '--report', join(dir, 'report.json'), '--json']);
    assert.equal(sim.code, 0, sim.stderr);
    const report = JSON.parse(sim.stdout) as { totals: { delivered: number; corrupted: number; failed: number; undeliverable: number }; devices: Array<{ deviceId: string; transport: string; delivered: number; corrupted: number }> };
    assert.equal(report.totals.failed, 0);
    assert.ok(report.totals.corrupted > 0, 'the scenario damaged some frames');
    for (const d of report.devices) assert.ok(d.delivered > 0, `${d.deviceId} delivered nothing`);

    await new Promise((r) => setTimeout(r, 1500)); // let the last serial bytes and notifications arrive
    assert.equal(await gateway.stop(), 0, gateway.stderr());
    gateway = undefined;
    const open = await vitalgate(['open', '--data-dir', data, '--json'], env);
    assert.equal(open.code, 0, open.stderr);
    const got = open.stdout.trim().split('\n').map((l) => JSON.parse(l) as Line);
    const sent = (await readFile(sentLog, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Line);
    assert.equal(sent.length, report.totals.delivered);

    // Readings that carry their device's sequence number: matched one to one by (device, stream, seq).
    const key = (r: Line) => `${r.deviceId}|${r.stream}|${r.seq}`;
    const withSeq = sent.filter((r) => r.transport !== 'ble-sim');
    const gotWithSeq = got.filter((r) => !r.deviceId.startsWith('oxi-'));
    const gotBy = new Map<string, Line>();
    for (const r of gotWithSeq) {
      assert.ok(!gotBy.has(key(r)), `duplicated ${key(r)}`);
      gotBy.set(key(r), r);
    }
    for (const s of withSeq) {
      const g = gotBy.get(key(s));
      assert.ok(g, `lost ${key(s)} (${s.transport})`);
      assert.equal(g.patientId, s.patientId);
      assert.deepEqual(strip(g), strip(s), `altered ${key(s)}`);
      if (s.transport === 'serial') {
        // The strap's clock is an hour off; the time-sync handshake puts it back on the wall clock.
        assert.ok(Math.abs(g.ts - s.ts) < 250, `serial ts ${g.ts} vs ${s.ts}`);
      } else {
        assert.equal(g.ts, s.ts);
      }
      gotBy.delete(key(s));
    }
    assert.deepEqual([...gotBy.keys()], [], 'invented readings');

    // BLE readings are numbered by the gateway on arrival: matched in order per (device, stream).
    for (const dev of ['oxi-1', 'oxi-2']) {
      for (const stream of new Set(sent.filter((r) => r.deviceId === dev).map((r) => r.stream))) {
        const s = sent.filter((r) => r.deviceId === dev && r.stream === stream).map(strip);
        const g = got.filter((r) => r.deviceId === dev && r.stream === stream).sort((a, b) => a.seq - b.seq).map(strip);
        assert.deepEqual(g, s, `${dev} ${stream}`);
      }
    }
    const bleGot = got.filter((r) => r.deviceId.startsWith('oxi-')).length;
    assert.equal(bleGot, sent.filter((r) => r.transport === 'ble-sim').length);
    for (const t of ['mqtt', 'serial', 'ble-sim']) assert.ok(sent.some((r) => r.transport === t), `no ${t} readings`);
    assert.ok(got.some((r) => r.deviceId === 'rec-v102s' && r.stream === 'ppg'), 'the replay sent PLETH as ppg');
  });
});
