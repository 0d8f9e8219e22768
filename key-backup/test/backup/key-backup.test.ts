import assert from 'node:assert/strict';
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { bytesToHex } from '@noble/hashes/utils.js';
import mqtt from 'mqtt';
import { startBroker } from '@vitalgate/broker';
import { readWfdbRecord } from '@vitalgate/biosignal';
import { encodeBody, readingTopic } from '@vitalgate/protocol';
import {
  BackupFormatError,
  KeyBackupError,
  VaultFormatError,
  VaultLockError,
  WaveformBeats,
  backupMatchesSecret,
  backupPatientSecret,
  defaultBackupPath,
  neighbourWindows,
  parseBackup,
  readBackupFile,
  recoverPatientSecret,
  restoreIntoKeystore,
  serializeBackup,
  subscribeWaveform,
  vaultMatchesSecret,
  writeBackupFile,
  type BeatWindow,
} from '../../src/index.js';
import { Keystore } from '@vitalgate/edge-gateway';
import { beatsOf, physionet } from '../beats.js';
import { TEST_SCRYPT, tempDir } from '../helpers.js';

const PASS = 'key backup test passphrase';

describe('BSN key backup and recovery', function () {
  this.timeout(60_000);
  let mlii: number[];
  let v5: number[];
  let v102sII: number[];
  const W: BeatWindow = { startSeconds: 120, seconds: 60 };

  before(async () => {
    const r100 = await readWfdbRecord(path.join(physionet, '100.hea'));
    mlii = beatsOf(r100, 'MLII', 400);
    v5 = beatsOf(r100, 'V5', 400);
    v102sII = beatsOf(await readWfdbRecord(path.join(physionet, 'v102s.hea')), 'II');
  });

  async function enrolled(dir: string): Promise<{ keystore: Keystore; pms: Uint8Array }> {
    const keystore = await Keystore.open(path.join(dir, 'keys'), PASS, TEST_SCRYPT);
    const { pms } = await keystore.getOrEnroll('patient-0100');
    return { keystore, pms };
  }

  it('locks the PMS with MLII R peaks of record 100 and recovers it with V5 into a new keystore', async () => {
    const t = await tempDir();
    try {
      const { keystore, pms } = await enrolled(t.dir);
      const now = new Date('2025-06-01T08:30:00Z');
      const b = await backupPatientSecret({
        keystore, patientId: 'patient-0100', beatTimesSeconds: mlii, window: W, now,
        source: { kind: 'record', name: '100', signal: 'MLII', sensor: 'ecg' },
      });
      assert.ok(b.features >= 49 && b.features <= 128, `${b.features} IPIs`); // degree + 1 ≤ features ≤ 2^slotBits
      assert.ok(b.security.securityBits >= 128, `${b.security.securityBits} bits`);
      // The helper data: vault, patient, window, parameters, creation time; no key in any encoding.
      const doc = JSON.parse(b.vaultJson) as Record<string, unknown>;
      assert.equal(doc.patientId, 'patient-0100');
      assert.equal(doc.createdAt, now.toISOString());
      assert.deepEqual(doc.window, W);
      assert.equal((doc.params as { degree: number }).degree, b.vault.params.degree);
      assert.equal(doc.timeBase, 'record');
      for (const enc of [bytesToHex(pms), Buffer.from(pms).toString('base64')]) assert.ok(!b.vaultJson.includes(enc));
      const file = defaultBackupPath(t.dir, 'patient-0100');
      await writeBackupFile(file, b.vaultJson);
      await assert.rejects(writeBackupFile(file, b.vaultJson), /exists/);
      const backup = await readBackupFile(file);
      assert.ok(backupMatchesSecret(backup, pms));

      // Recovery: V5 over the backup window opens it at once.
      const t0 = performance.now();
      const r = await recoverPatientSecret({ vault: backup.vault, windows: [v5] });
      const ms = performance.now() - t0;
      assert.ok(r.secret, 'V5 unlocks the MLII vault');
      assert.equal(r.windowsTried, 1);
      assert.deepEqual(r.secret, pms);
      console.log(`      V5 unlocked in ${r.windowsTried} window, ${ms.toFixed(1)} ms; ${b.features} IPIs, ${b.security.securityBits.toFixed(1)} bits`);

      const fresh = await Keystore.open(path.join(t.dir, 'new-keys'), PASS, TEST_SCRYPT);
      assert.deepEqual(await restoreIntoKeystore(fresh, 'patient-0100', r.secret, backup.vault), { written: true });
      assert.deepEqual(await (await Keystore.open(path.join(t.dir, 'new-keys'), PASS)).get('patient-0100'), pms);
      // Idempotent when the same secret is there.
      assert.deepEqual(await restoreIntoKeystore(fresh, 'patient-0100', r.secret, backup.vault), { written: false });
    } finally {
      await t.cleanup();
    }
  });

  it('measures window after window (a function source) until one unlocks, with neighbours of the backup window', async () => {
    const t = await tempDir();
    try {
      const { keystore, pms } = await enrolled(t.dir);
      const b = await backupPatientSecret({ keystore, patientId: 'patient-0100', beatTimesSeconds: mlii, window: W });
      // V5's clock is 4 s late: the backup window itself misses, a neighbour 4.5 s on catches it.
      const late = v5.map((x) => x + 4);
      const windows = neighbourWindows(W, { stepSeconds: 1.5, count: 9 });
      assert.deepEqual(windows.slice(0, 3).map((w) => w.startSeconds), [120, 121.5, 118.5]);
      const asked: number[] = [];
      const r = await recoverPatientSecret({
        vault: b.vault,
        windows: (i) => {
          asked.push(i);
          return i < windows.length ? { beatTimesSeconds: late, window: windows[i]! } : null;
        },
        maxWindows: 9,
      });
      assert.ok(r.secret, 'a neighbour window unlocks');
      assert.deepEqual(r.secret, pms);
      assert.ok(r.windowsTried > 1 && r.windowsTried <= 9, `${r.windowsTried} windows`);
      assert.equal(asked.length, r.windowsTried);
      console.log(`      4 s clock offset: unlocked on window ${r.windowsTried} (start ${r.window.startSeconds} s), attempts ${r.attempts.map((a) => a.ms).join('/')} ms`);

      // An async generator works as well, and an exhausted source says so.
      async function* none() {
        yield { beatTimesSeconds: late.map((x) => x + 600) };
      }
      const ended = await recoverPatientSecret({ vault: b.vault, windows: none() });
      assert.equal(ended.secret, null);
      assert.equal(ended.windowsTried, 1);
      if (!ended.secret) assert.equal(ended.code, 'source-ended');
    } finally {
      await t.cleanup();
    }
  });

  it('another record never unlocks (null after every window) and nothing is written', async () => {
    const t = await tempDir();
    try {
      const { keystore } = await enrolled(t.dir);
      const b = await backupPatientSecret({ keystore, patientId: 'patient-0100', beatTimesSeconds: mlii, window: W });
      const wrongWindows = neighbourWindows(W, { stepSeconds: 1.5, count: 12 }).map((w) => ({ beatTimesSeconds: v102sII, window: w }));
      const r = await recoverPatientSecret({ vault: b.vault, windows: wrongWindows, maxWindows: 12 });
      assert.equal(r.secret, null);
      assert.equal(r.windowsTried, 12);
      if (!r.secret) {
        assert.equal(r.code, 'no-match');
        assert.match(r.reason, /not recovered after 12 windows/);
        assert.match(r.reason, /must overlap the backup window \[120, 180\) s/);
      }
      // Same body, another time: a stale minute does not open it either.
      const stale = await recoverPatientSecret({ vault: b.vault, windows: [{ beatTimesSeconds: v5, window: { startSeconds: 300, seconds: 60 } }] });
      assert.equal(stale.secret, null);
      const fresh = path.join(t.dir, 'new-keys');
      // The caller writes only on success: the new keystore was never even created.
      await assert.rejects(readdir(fresh), /ENOENT/);
    } finally {
      await t.cleanup();
    }
  });

  it('refuses to overwrite a different PMS, refuses a secret that does not match the vault, and an unknown patient', async () => {
    const t = await tempDir();
    try {
      const { keystore, pms } = await enrolled(t.dir);
      const b = await backupPatientSecret({ keystore, patientId: 'patient-0100', beatTimesSeconds: mlii, window: W });
      const other = await Keystore.open(path.join(t.dir, 'other'), PASS, TEST_SCRYPT);
      const theirs = (await other.getOrEnroll('patient-0100')).pms;
      const sealed = await readFile(path.join(t.dir, 'other', 'patients', 'patient-0100.json'), 'utf8');
      await assert.rejects(restoreIntoKeystore(other, 'patient-0100', pms, b.vault), (e: Error) => {
        assert.ok(e instanceof KeyBackupError);
        assert.equal(e.code, 'different-secret');
        assert.match(e.message, /already holds a different master secret for patient patient-0100; refusing to overwrite/);
        return true;
      });
      assert.equal(await readFile(path.join(t.dir, 'other', 'patients', 'patient-0100.json'), 'utf8'), sealed);
      assert.deepEqual(await other.get('patient-0100'), theirs);
      // A secret the vault does not vouch for is never written.
      assert.ok(!vaultMatchesSecret(b.vault, theirs));
      await assert.rejects(restoreIntoKeystore(await Keystore.open(path.join(t.dir, 'third'), PASS, TEST_SCRYPT), 'patient-0100', theirs, b.vault), /does not match the vault/);
      await assert.rejects(
        backupPatientSecret({ keystore, patientId: 'patient-9999', beatTimesSeconds: mlii, window: W }),
        (e: Error) => e instanceof KeyBackupError && e.code === 'unknown-patient' && /patient-9999 has no master secret/.test(e.message),
      );
      // Too few beats in the window: refused by the vault, clearly.
      await assert.rejects(
        backupPatientSecret({ keystore, patientId: 'patient-0100', beatTimesSeconds: mlii, window: { startSeconds: 120, seconds: 10 } }),
        (e: Error) => e instanceof VaultLockError && e.code === 'too-few-features',
      );
    } finally {
      await t.cleanup();
    }
  });

  it('writes the vault file with mode 0600: whoever has the window\'s beats could unlock it', async () => {
    const t = await tempDir();
    try {
      const file = path.join(t.dir, 'backups', 'p.vault.json');
      await writeBackupFile(file, '{"not":"checked here"}');
      assert.equal((await stat(file)).mode & 0o777, 0o600);
      await writeBackupFile(file, '{"again":true}', { force: true });
      assert.equal((await stat(file)).mode & 0o777, 0o600);
    } finally {
      await t.cleanup();
    }
  });

  it('rejects corrupted or altered backups with a clear VaultFormatError, and an altered patient id fails the MAC', async () => {
    const t = await tempDir();
    try {
      const { keystore, pms } = await enrolled(t.dir);
      const b = await backupPatientSecret({ keystore, patientId: 'patient-0100', beatTimesSeconds: mlii, window: W });
      const text = b.vaultJson;
      const bad = (s: string | Uint8Array, re: RegExp) =>
        assert.throws(() => parseBackup(s), (e: Error) => {
          assert.ok(e instanceof VaultFormatError, `${e.name}: ${e.message}`);
          assert.ok(e instanceof BackupFormatError);
          assert.match(e.message, /^invalid key backup: /);
          assert.match(e.message, re);
          return true;
        });
      bad(text.slice(0, text.length / 2), /not JSON .*truncated/);
      bad('', /not JSON/);
      bad('[]', /not a JSON object/);
      bad(text.replace('"vitalgate/pms-backup"', '"something-else"'), /format must be "vitalgate\/pms-backup"/);
      bad(text.replace('"version": 1', '"version": 7'), /unsupported version 7/);
      bad(text.replace('"patientId": "patient-0100"', '"patientId": "../../etc"'), /patientId/);
      const doc = JSON.parse(text) as { vault: { points: string; window: BeatWindow; salt: string }; window: BeatWindow; params: Record<string, number> };
      const mutate = (f: (d: typeof doc) => void): string => {
        const d = JSON.parse(text) as typeof doc;
        f(d);
        return JSON.stringify(d);
      };
      bad(mutate((d) => (d.vault.points = d.vault.points.slice(0, -3))), /vault inside is damaged: .*points must be hex/);
      bad(mutate((d) => (d.vault.points = d.vault.points.slice(0, -8))), /vault inside is damaged: .*not a comb/);
      bad(mutate((d) => (d.vault.salt = 'zz')), /vault inside is damaged: .*salt/);
      bad(mutate((d) => (d.window = { startSeconds: 0, seconds: 60 })), /window differs/);
      bad(mutate((d) => (d.params.spacing = 20)), /params.spacing differs/);
      bad(JSON.stringify((JSON.parse(text) as { vault: unknown }).vault), /bare fuzzy vault/);
      // Truncated on disk: the file name is in the message.
      await writeBackupFile(path.join(t.dir, 'cut.json'), text.slice(0, 1000));
      await assert.rejects(readBackupFile(path.join(t.dir, 'cut.json')), (e: Error) => e instanceof VaultFormatError && e.message.includes('cut.json') && /truncated/.test(e.message));

      // A well-formed file whose patient id was changed still unlocks (the vault is the same) but fails the MAC.
      const moved = parseBackup(text.replace('"patientId": "patient-0100"', '"patientId": "patient-0200"'));
      const r = await recoverPatientSecret({ vault: moved.vault, windows: [v5] });
      assert.deepEqual(r.secret, pms);
      assert.ok(!backupMatchesSecret(moved, pms));
      assert.ok(backupMatchesSecret(parseBackup(serializeBackup(b.backup)), pms));
    } finally {
      await t.cleanup();
    }
  });

  it('places beats of a live MQTT ECG stream on the wall clock and recovers from it', async () => {
    const t = await tempDir();
    const broker = await startBroker({ port: 0 });
    try {
      const { keystore, pms } = await enrolled(t.dir);
      const rec = await readWfdbRecord(path.join(physionet, '100.hea'));
      const frames = (signal: string, startMs: number, seconds: number) => {
        const i = rec.header.signals.findIndex((s) => s.description === signal);
        const spec = rec.header.signals[i]!;
        const fs = rec.sampleRate(i);
        const out: Array<{ seq: number; ts: number; rate: number; samples: number[] }> = [];
        for (let k = 0, seq = 0; k + 36 <= seconds * fs; k += 36, seq++) {
          out.push({ seq, ts: startMs + Math.round((k * 1000) / fs), rate: fs, samples: Array.from(rec.digital[i]!.subarray(k, k + 36), (d) => Math.round(((d - spec.baseline) * 1000) / spec.gain)) });
        }
        return out;
      };
      const t0 = Date.UTC(2025, 5, 1, 8, 30);
      // Backup side: MLII frames straight into the collector, one frame lost and one duplicated.
      const live = new WaveformBeats({ sensor: 'ecg' });
      const mliiFrames = frames('MLII', t0, 200);
      for (const [n, f] of mliiFrames.entries()) {
        if (n === 500) continue;
        live.add(f);
        if (n === 700) live.add(f);
      }
      assert.equal(live.frameCount, mliiFrames.length - 1);
      const liveBeats = live.beats();
      // Beats agree with the offline detector on the same lead, to the sample, away from the gap.
      const offline = mlii.filter((x) => x > 60 && x < 150).map((x) => t0 / 1000 + x);
      const near = offline.filter((x) => liveBeats.some((y) => Math.abs(y - x) < 0.003)).length;
      assert.ok(near >= offline.length - 1, `${near}/${offline.length} beats agree`);
      const window = { startSeconds: t0 / 1000 + 120, seconds: 60 };
      const b = await backupPatientSecret({ keystore, patientId: 'patient-0100', beatTimesSeconds: liveBeats, window, timeBase: 'unix', source: { kind: 'live', name: 'test', signal: 'ecg', sensor: 'ecg' } });

      // Recovery side: V5 published over MQTT with its original timestamps.
      const got = new WaveformBeats({ sensor: 'ecg' });
      const sub = await subscribeWaveform({ url: broker.url, patientId: 'patient-0100', stream: 'ecg', onBody: (_dev, body) => got.add(body) });
      const dev = await mqtt.connectAsync(broker.url, { clientId: 'holter-v5' });
      const v5Frames = frames('V5', t0, 190);
      try {
        await dev.publishAsync(readingTopic('patient-0100', 'holter-v5', 'ecg'), Buffer.from('not a reading'), { qos: 1 });
        for (const f of v5Frames) await dev.publishAsync(readingTopic('patient-0100', 'holter-v5', 'ecg'), Buffer.from(encodeBody(f, 'cbor')), { qos: 1 });
        for (let i = 0; i < 100 && got.frameCount < v5Frames.length; i++) await new Promise((r) => setTimeout(r, 50));
      } finally {
        await dev.endAsync();
        await sub.close();
      }
      assert.equal(got.frameCount, v5Frames.length);
      const span = got.span()!;
      assert.equal(span.fromMs, t0);
      const r = await recoverPatientSecret({ vault: b.vault, windows: [got.beats()] });
      assert.deepEqual(r.secret, pms);
    } finally {
      await broker.close();
      await t.cleanup();
    }
  });
});
