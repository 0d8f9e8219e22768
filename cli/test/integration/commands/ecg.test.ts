import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isBeatAnnotation, readWfdbAnnotations } from '@vitalgate/biosignal';
import { vitalgate } from '../../cli.js';

const physionet = (file: string) => fileURLToPath(new URL(`../../../../../../shared/data/physionet/${file}`, import.meta.url));

interface Score {
  record: string;
  signal: number;
  description: string;
  fs: number;
  windowMs: number;
  reference: number;
  detected: number;
  truePositives: number;
  falsePositives: number;
  falseNegatives: number;
  sensitivity: number;
  positivePredictivity: number;
}

describe('vitalgate ecg', function () {
  this.timeout(60_000);

  it('scores record 100 MLII against 100.atr: Se and +P ≥ 99.5 %, beat annotations only', async () => {
    const r = await vitalgate(['ecg', 'score', physionet('100.hea'), '--signal', '0', '--annotations', physionet('100.atr'), '--json']);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout) as Score;
    assert.equal(s.record, '100');
    assert.equal(s.signal, 0);
    assert.equal(s.description, 'MLII');
    assert.equal(s.fs, 360);
    assert.equal(s.windowMs, 150);
    assert.equal(s.reference, 2273); // 100.atr has 2274 annotations; the rhythm label "(N" is not a beat
    assert.equal(s.truePositives + s.falseNegatives, s.reference);
    assert.equal(s.truePositives + s.falsePositives, s.detected);
    assert.ok(s.sensitivity >= 0.995, `Se ${s.sensitivity}`);
    assert.ok(s.positivePredictivity >= 0.995, `+P ${s.positivePredictivity}`);
  });

  it('prints Se, +P and the counts as text, and honours --window-ms', async () => {
    const r = await vitalgate(['ecg', 'score', physionet('100.hea'), '--signal', '1', '--annotations', physionet('100.atr'), '--window-ms', '50']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /100 signal 1 \(V5\), 360 Hz: 2273 annotated beats, \d+ detected/);
    assert.match(r.stdout, /Se \d+\.\d\d %\s+\+P \d+\.\d\d %\s+\(TP \d+, FP \d+, FN \d+; window 50 ms\)/);
  });

  it('lists R peaks as absolute sample numbers for a window of the record', async () => {
    const part = await vitalgate(['ecg', 'rpeaks', physionet('100.hea'), '--signal', '0', '--from', '60', '--seconds', '10', '--json']);
    assert.equal(part.code, 0, part.stderr);
    const w = JSON.parse(part.stdout) as { record: string; signal: number; description: string; fs: number; count: number; peaks: number[] };
    assert.deepEqual([w.record, w.signal, w.description, w.fs], ['100', 0, 'MLII', 360]);
    assert.equal(w.count, w.peaks.length);
    assert.ok(w.peaks.every((p) => p >= 60 * 360 && p < 70 * 360));
    // Sample numbers of the record, not of the window: they land on the annotated beats.
    const beats = (await readWfdbAnnotations(physionet('100.atr'))).filter((a) => isBeatAnnotation(a.code) && a.sample >= 60 * 360 && a.sample < 70 * 360);
    assert.equal(w.count, beats.length);
    beats.forEach((b, i) => assert.ok(Math.abs(w.peaks[i]! - b.sample) <= 0.15 * 360, `${w.peaks[i]} vs ${b.sample}`));

    const text = await vitalgate(['ecg', 'rpeaks', physionet('test01_00s.hea'), '--signal', '2']);
    assert.equal(text.code, 0, text.stderr);
    const lines = text.stdout.trim().split('\n');
    assert.match(lines[0]!, /^test01_00s signal 2 \(ECG 3\), 500 Hz, .*: 12 R peaks/);
    assert.equal(lines.length, 13);
    assert.match(lines[1]!, /^\d+\t\d+\.\d{3}$/);
  });

  it('exits 1 with a clear message when the record or the annotation file cannot be read', async () => {
    const missing = await vitalgate(['ecg', 'score', '/nonexistent/rec.hea', '--signal', '0', '--annotations', physionet('100.atr')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^vitalgate ecg: .*rec\.hea/);
    assert.equal(missing.stdout, '');

    const noAnn = await vitalgate(['ecg', 'score', physionet('100.hea'), '--signal', '0', '--annotations', '/nonexistent/100.atr', '--json']);
    assert.equal(noAnn.code, 1);
    assert.match(noAnn.stderr, /^vitalgate ecg: .*100\.atr/);
    assert.equal(noAnn.stdout, '');

    const dir = await mkdtemp(join(tmpdir(), 'vg-ecg-'));
    try {
      await writeFile(join(dir, 'bad.hea'), 'this is not a header\n');
      const bad = await vitalgate(['ecg', 'rpeaks', join(dir, 'bad.hea'), '--signal', '0']);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /^vitalgate ecg: .*bad\.hea/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a signal the record does not have, or a bad option value', async () => {
    const r = await vitalgate(['ecg', 'rpeaks', physionet('100.hea'), '--signal', '2']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--signal 2 does not exist: record 100 has 2 signals/);
    const bad = await vitalgate(['ecg', 'rpeaks', physionet('100.hea'), '--signal', 'MLII']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /--signal must be a signal number/);
  });

  it('explains both subcommands with examples', async () => {
    for (const [cmd, mustMention] of [
      ['rpeaks', ['--signal', '--from', '--seconds', '--json', 'Example']],
      ['score', ['--signal', '--annotations', '--window-ms', '--json', 'Se', '+P', 'exits 1', 'Example']],
    ] as const) {
      const r = await vitalgate(['ecg', cmd, '--help']);
      assert.equal(r.code, 0);
      for (const m of mustMention) assert.ok(r.stdout.includes(m), `ecg ${cmd} --help does not mention ${m}`);
    }
  });
});
