/**
 * Key backup and recovery, end to end, each step a separate process as an operator runs it:
 * a broker and a gateway; MIT-BIH record 100 replayed live (lead MLII as the patient's ECG stream)
 * so the gateway enrols the patient and seals batches; `keys backup` locks the patient's master
 * secret with the heartbeats of that live stream; the gateway is lost (its keys wiped) and
 * `vitalgate open` can no longer read anything; `keys recover` measures the backup window again
 * with the other lead (V5) of the same record, first from the record file, then from a live
 * stream of that recording with its original timestamps, and `vitalgate open` reads back every
 * reading the replay delivered, exactly once. A different record never unlocks, and writes nothing.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readWfdbRecord } from '@vitalgate/biosignal';
import { MqttTransport } from '@vitalgate/device-sim';
import { Keystore } from '@vitalgate/edge-gateway';
import { DEFAULT_WINDOW_SECONDS, parseBackup } from '@vitalgate/key-backup';
import { MAIN, vitalgate, type Ran } from '../cli.js';
import { startDaemon, type Daemon } from '../daemon.js';

const DATA = new URL('../../../../../shared/data/physionet/', import.meta.url).pathname;
const PATIENT = 'patient-0100';

interface Line extends Record<string, unknown> { transport?: string; patientId: string; deviceId: string; stream: string; seq: number; ts: number }
const strip = (r: Record<string, unknown>) => {
  const { transport: _t, batchId: _b, epoch: _e, ...rest } = r;
  return rest;
};

/** A `vitalgate` command in the background: wait for a line on stderr, then for its exit. */
function background(args: string[], env: NodeJS.ProcessEnv): { ready: (re: RegExp, ms?: number) => Promise<void>; done: Promise<Ran>; kill: () => void } {
  const child = spawn(process.execPath, [MAIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<Ran>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  const ready = (re: RegExp, ms = 20_000) => new Promise<void>((resolve, reject) => {
    const t0 = Date.now();
    const poll = setInterval(() => {
      if (re.test(stderr)) {
        clearInterval(poll);
        resolve();
      } else if (child.exitCode !== null || Date.now() - t0 > ms) {
        clearInterval(poll);
        reject(new Error(`vitalgate ${args.slice(0, 2).join(' ')} never printed ${re}:\n${stderr}`));
      }
    }, 50);
  });
  return { ready, done, kill: () => child.kill('SIGKILL') };
}

/** Every file under dir with its size and mtime: "nothing was written" means this does not change. */
async function snapshot(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const p = join(e.parentPath, e.name);
    const s = await stat(p);
    out.push(`${p} ${e.isDirectory() ? 'dir' : s.size} ${s.mtimeMs}`);
  }
  return out.sort();
}

describe('end to end: key backup from a live ECG stream, lost keys, recovery from another lead', function () {
  this.timeout(120_000);
  let dir: string;
  let broker: Daemon | undefined;
  let gateway: Daemon | undefined;
  const spawned: Array<() => void> = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vg-keys-backup-'));
  });
  after(async () => {
    for (const k of spawned) k();
    await gateway?.stop('SIGKILL');
    await broker?.stop('SIGKILL');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('backs up, loses the keys, recovers with V5 (record and live) and reads back every reading', async () => {
    const pass = join(dir, 'pass');
    await writeFile(pass, 'key backup e2e passphrase\n', { mode: 0o600 });
    const env = { VITALGATE_PASSPHRASE_FILE: pass };
    const data = join(dir, 'data');
    const vaultFile = join(dir, 'offsite', `${PATIENT}.vault.json`); // a copy kept off the gateway
    const t0 = Date.now();

    broker = await startDaemon(['broker', '--port', '0']);
    const url = String(broker.first.url);
    gateway = await startDaemon(['gateway', '--broker', url, '--data-dir', data, '--log-level', 'warn', '--batch-window-ms', '500'], env);

    // 1. Backup from the live stream: listen first, then the record plays (20× speed, 160 s of record).
    const backup = background(['keys', 'backup', '--data-dir', data, '--patient', PATIENT, '--from', url, '--device', 'rec-100', '--out', vaultFile, '--json'], env);
    spawned.push(backup.kill);
    await backup.ready(/listening on vg\/v1\/patient-0100\/rec-100\/ecg/);
    const sentLog = join(dir, 'sent.jsonl');
    const replay = await vitalgate(['sim', 'replay', join(DATA, '100.hea'), '--broker', url, '--speed', '20', '--duration', '8',
      '--device', 'rec-100', '--patient', PATIENT, '--sent-log', sentLog, '--json']);
    assert.equal(replay.code, 0, replay.stderr);
    const report = JSON.parse(replay.stdout) as { totals: { delivered: number; failed: number } };
    assert.equal(report.totals.failed, 0);
    const b = await backup.done;
    assert.equal(b.code, 0, b.stderr);
    const summary = JSON.parse(b.stdout) as { path: string; timeBase: string; window: { startSeconds: number; seconds: number }; ipisLocked: number; securityBits: number; containsKey: boolean };
    assert.equal(summary.path, vaultFile);
    assert.equal(summary.timeBase, 'unix');
    assert.equal(summary.window.seconds, DEFAULT_WINDOW_SECONDS);
    assert.ok(summary.ipisLocked >= 33, `only ${summary.ipisLocked} IPIs locked`);
    assert.ok(summary.securityBits >= 128, `security ${summary.securityBits} bits`);
    assert.equal(summary.containsKey, false);

    await new Promise((r) => setTimeout(r, 1000)); // the last batches close after the batch window
    assert.equal(await gateway.stop(), 0, gateway.stderr());
    gateway = undefined;

    // The helper data is public: the secret must not be in it in any encoding.
    const pms = (await (await Keystore.open(join(data, 'keys'), 'key backup e2e passphrase')).get(PATIENT))!;
    assert.ok(pms, 'the gateway enrolled the patient');
    const helper = await readFile(vaultFile);
    for (const enc of [Buffer.from(pms).toString('hex'), Buffer.from(pms).toString('base64'), Buffer.from(pms).toString('base64url')]) {
      assert.ok(!helper.toString('utf8').toLowerCase().includes(enc.toLowerCase()), 'the backup contains the secret');
    }
    assert.ok(!helper.includes(Buffer.from(pms)));
    const parsed = parseBackup(helper);
    assert.equal(parsed.patientId, PATIENT);
    assert.deepEqual(parsed.window, summary.window);

    const sent = (await readFile(sentLog, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Line);
    assert.equal(sent.length, report.totals.delivered);
    const ecg = sent.filter((r) => r.stream === 'ecg');
    const recordStart = Math.min(...ecg.map((r) => r.ts)); // the replay's sample 0 on the wall clock

    // 2. The gateway is lost: its keys are gone, and nothing can be read any more.
    await rm(join(data, 'keys'), { recursive: true, force: true });
    const blind = await vitalgate(['open', '--data-dir', data, '--json'], env);
    assert.equal(blind.code, 1);
    assert.equal(blind.stdout, '');
    assert.match(blind.stderr, /no master secret for patient patient-0100/);
    assert.match(blind.stderr, /0 batches opened, 0 readings/);

    // 3. Another person's recording never unlocks, and nothing is written.
    const before = await snapshot(join(data, 'keys'));
    const wrong = await vitalgate(['keys', 'recover', '--vault', vaultFile, '--data-dir', data, '--from', join(DATA, 'v102s.hea'), '--record-start', String(recordStart), '--quiet'], env);
    assert.equal(wrong.code, 1, wrong.stderr);
    assert.match(wrong.stderr, /not recovered after 25 windows/);
    assert.match(wrong.stderr, /must overlap the backup window/);
    assert.match(wrong.stderr, /Nothing was written/);
    assert.deepEqual(await snapshot(join(data, 'keys')), before);
    assert.ok(!existsSync(join(data, 'keys', 'patients', `${PATIENT}.json`)));

    // 4. Recovery with the other lead, V5, from the record file placed on the wall clock.
    const rec = await vitalgate(['keys', 'recover', '--vault', vaultFile, '--data-dir', data, '--from', join(DATA, '100.hea'),
      '--signal', 'V5', '--record-start', String(recordStart), '--json', '--quiet'], env);
    assert.equal(rec.code, 0, rec.stderr);
    const r = JSON.parse(rec.stdout) as { recovered: boolean; patientId: string; windowsTried: number; signal: string; unlockMs: number; written: boolean };
    assert.deepEqual([r.recovered, r.patientId, r.signal, r.written], [true, PATIENT, 'V5', true]);
    assert.ok(r.windowsTried >= 1 && r.windowsTried <= 25);
    process.stderr.write(`      record recovery: ${r.windowsTried} window(s), unlock ${r.unlockMs} ms\n`);

    // 5. Every reading the replay delivered comes back exactly once, unchanged; nothing else.
    const open = await vitalgate(['open', '--data-dir', data, '--json'], env);
    assert.equal(open.code, 0, open.stderr);
    const got = open.stdout.trim().split('\n').map((l) => JSON.parse(l) as Line);
    const key = (x: Line) => `${x.deviceId}|${x.stream}|${x.seq}`;
    const gotBy = new Map<string, Line>();
    for (const g of got) {
      assert.ok(!gotBy.has(key(g)), `duplicated ${key(g)}`);
      gotBy.set(key(g), g);
    }
    for (const s of sent) {
      const g = gotBy.get(key(s));
      assert.ok(g, `lost ${key(s)}`);
      assert.deepEqual(strip(g), strip(s), `altered ${key(s)}`);
      gotBy.delete(key(s));
    }
    assert.deepEqual([...gotBy.keys()], [], 'invented readings');
    assert.equal(got.length, sent.length);
    const counts = { ecg: ecg.length, hr: sent.filter((x) => x.stream === 'hr').length };
    process.stderr.write(`      reconciled ${got.length}/${sent.length} readings (ecg ${counts.ecg}, hr ${counts.hr}) in ${Math.round((Date.now() - t0) / 1000)} s\n`);

    // 6. A second recovery is idempotent; recovering live into a fresh data directory gives the same secret:
    //    V5 of the recording, streamed with its original timestamps (a Holter archive played back).
    const again = await vitalgate(['keys', 'recover', '--vault', vaultFile, '--data-dir', data, '--from', join(DATA, '100.hea'), '--signal', 'V5', '--record-start', String(recordStart), '--quiet'], env);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /already held this same secret: nothing changed/);

    const fresh = join(dir, 'fresh');
    const live = background(['keys', 'recover', '--vault', vaultFile, '--data-dir', fresh, '--from', url, '--device', 'holter-v5', '--json', '--timeout', '10'], env);
    spawned.push(live.kill);
    await live.ready(/listening on vg\/v1\/patient-0100\/holter-v5\/ecg/);
    const record = await readWfdbRecord(join(DATA, '100.hea'));
    const v5 = record.header.signals.findIndex((s) => s.description === 'V5');
    const digital = record.digital[v5]!;
    const spec = record.header.signals[v5]!;
    const holter = await MqttTransport.connect(url, PATIENT, 'holter-v5', 'cbor');
    try {
      const fs = record.sampleRate(v5);
      // The whole stretch the replay covered (160 s of record), so every neighbour window is measurable.
      for (let i = 0, seq = 0; i + 36 <= fs * 160; i += 36, seq++) {
        const samples = Array.from(digital.subarray(i, i + 36), (d) => Math.round(((d - spec.baseline) * 1000) / spec.gain));
        const res = await holter.send('ecg', { seq, ts: recordStart + Math.round((i * 1000) / fs), rate: fs, samples });
        assert.ok(res.delivered);
      }
    } finally {
      await holter.close();
    }
    const l = await live.done;
    assert.equal(l.code, 0, l.stderr);
    const lr = JSON.parse(l.stdout) as { recovered: boolean; windowsTried: number; unlockMs: number; written: boolean };
    assert.deepEqual([lr.recovered, lr.written], [true, true]);
    process.stderr.write(`      live recovery: ${lr.windowsTried} window(s), unlock ${lr.unlockMs} ms\n`);
    const restored = await (await Keystore.open(join(fresh, 'keys'), 'key backup e2e passphrase')).get(PATIENT);
    assert.deepEqual(restored, pms);
  });
});
