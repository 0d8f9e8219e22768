import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { classifySignal, detectPulsePeaks, detectRPeaks, readWfdbRecord } from '@vitalgate/biosignal';
import { BodyModel } from '@vitalgate/device-sim';
import {
  DEFAULT_WINDOW_SECONDS,
  evaluateRecords,
  type EvaluationReport,
  type RecordBeats,
} from '../../../src/index.js';

// dist/test/evaluate/ → key-backup/ → repository root; the records live beside it, never in the repository.
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', '..');
const physionet = path.resolve(repoRoot, '..', 'shared', 'data', 'physionet');
const report = (line: string): void => console.log(`      ${line}`);

/** What `vitalgate keys evaluate` does to a record: every ECG lead and PPG signal → beat times. */
async function recordBeats(name: string): Promise<RecordBeats> {
  const rec = await readWfdbRecord(path.join(physionet, `${name}.hea`));
  const signals: RecordBeats['signals'] = [];
  let durationSeconds = 0;
  rec.header.signals.forEach((spec, i) => {
    const fs = rec.sampleRate(i);
    const x = rec.physical(i);
    durationSeconds = Math.max(durationSeconds, x.length / fs);
    const kind = classifySignal(spec.description);
    if (!kind) return;
    const peaks = kind === 'ecg' ? detectRPeaks(x, fs) : detectPulsePeaks(x, fs);
    signals.push({ signal: spec.description, kind, beatTimesSeconds: peaks.map((p) => p / fs) });
  });
  return { record: name, durationSeconds, signals };
}

/** A simulated person (device-sim's body model: McSharry-style HRV, PPG with breathing-modulated transit time), rendered and detected. */
function simulatedBody(seed: number, seconds: number, fs = 250): RecordBeats {
  const t0 = Date.UTC(2024, 0, 1);
  const body = new BodyModel({ seed, startMs: t0 });
  const n = Math.round(seconds * fs);
  const ecg = detectRPeaks(Float64Array.from(body.ecg(t0, n, fs)), fs);
  const ppg = detectPulsePeaks(Float64Array.from(body.ppg(t0, n, fs)), fs);
  return {
    record: `sim-${seed}`,
    durationSeconds: seconds,
    signals: [
      { signal: 'ECG', kind: 'ecg', beatTimesSeconds: ecg.map((p) => p / fs) },
      { signal: 'PPG', kind: 'ppg', beatTimesSeconds: ppg.map((p) => p / fs) },
    ],
  };
}

function summary(r: EvaluationReport): void {
  for (const rec of r.records) {
    report(
      `${rec.record}: ${rec.windows} windows, ${rec.vaults} vaults, refused ${rec.weakFeatures} weak / ${rec.tooFewFeatures} short, ` +
        `lead ${rec.leadUnlocks}/${rec.leadTrials}, ECG→PPG ${rec.ecgToPpgUnlocks}/${rec.ecgToPpgTrials}, genuine ${rec.genuineUnlocks}/${rec.genuineTrials}, ~${rec.entropyBits} bits`,
    );
  }
  report(
    `impostor ${r.impostorUnlocks}/${r.impostorTrials}, stale ${r.staleUnlocks}/${r.staleTrials}, flat guess ${r.flatGuessUnlocks}/${r.flatGuessTrials}, ` +
      `ECG→PPG within ${r.recoveryWindows} windows ${r.ppgRecovered}/${r.ppgRecoveryCases}, unlock p50 ${r.unlockMsP50} ms p99 ${r.unlockMsP99} ms, ` +
      `brute force ${r.securityBits} bits, estimate ~${r.entropyBits} bits (${r.elapsedSeconds} s)`,
  );
}

describe('BSN key backup evaluation', () => {
  it('classifies WFDB signal names: ECG leads, PPG, and the rest', () => {
    for (const ecg of ['I', 'II', 'III', 'aVR', 'aVL', 'aVF', 'V', 'V1', 'V6', 'MLII', 'MLIII', 'ECG', 'ECG 1', 'ECG lead II', 'EKG']) assert.equal(classifySignal(ecg), 'ecg', ecg);
    for (const ppg of ['PLETH', 'Pleth', 'PPG', 'PPG ir']) assert.equal(classifySignal(ppg), 'ppg', ppg);
    for (const other of ['RESP', 'ABP', 'SpO2', 'CO2', 'ART', '']) assert.equal(classifySignal(other), null, other);
  });

  describe('on the shared PhysioNet records', function () {
    this.timeout(120_000);
    let records: RecordBeats[];
    before(async function () {
      this.timeout(60_000);
      records = await Promise.all(['100', 'v102s', 'test01_00s'].map(recordBeats));
    });

    it('quick: record 100 lead to lead opens in every window; impostors, stale and flat guesses never', () => {
      const r = evaluateRecords(records, { maxWindowsPerRecord: 6, maxImpostorTrials: 200, maxStaleTrials: 100 });
      summary(r);
      const rec100 = r.records.find((x) => x.record === '100')!;
      assert.equal(rec100.leadTrials, 12);
      assert.ok(rec100.leadUnlocks / rec100.leadTrials >= 0.95);
      assert.equal(r.impostorUnlocks, 0);
      assert.equal(r.staleUnlocks, 0);
      assert.equal(r.flatGuessUnlocks, 0);
      assert.ok(r.unlockMsP99 < 500);
      // test01_00s (8 s, 11 IPIs) is shorter than a window and cannot hold a degree-48 vault
      assert.equal(r.records.find((x) => x.record === 'test01_00s')!.windows, 0);
    });

    it('full run (slower, ~30–40 s): the targets the shared data can show', () => {
      const r = evaluateRecords(records, { maxImpostorTrials: 1000 });
      summary(r);
      assert.equal(r.windowSeconds, DEFAULT_WINDOW_SECONDS);
      // no impostor unlock in ≥ 1000 impostor trials
      assert.ok(r.impostorTrials >= 1000, `${r.impostorTrials} impostor trials`);
      assert.equal(r.impostorUnlocks, 0);
      assert.equal(r.far, 0);
      // genuine lead-to-lead ≥ 95 % per window, on the record with two ECG leads and a full half hour
      const rec100 = r.records.find((x) => x.record === '100')!;
      assert.equal(rec100.windows, 20);
      assert.ok(rec100.leadUnlocks / rec100.leadTrials >= 0.95, `${rec100.leadUnlocks}/${rec100.leadTrials}`);
      // the other attacks
      assert.equal(r.staleUnlocks, 0);
      assert.equal(r.flatGuessUnlocks, 0);
      // p99 unlock time < 500 ms
      assert.ok(r.unlockMsP99 < 500, `${r.unlockMsP99} ms`);
      assert.ok(r.securityBits > 128);
      // v102s: HRV ≈ 5 ms, no more than the 250 Hz sensors' own disagreement; the lock-time gate
      // refuses a vault whose "no variability" guess would open it (docs/key-backup.md)
      const v102s = r.records.find((x) => x.record === 'v102s')!;
      report(`v102s refused ${v102s.weakFeatures} of ${v102s.windows * 3} (signal, window) vaults as too predictable`);
    });
  });

  it('simulated cohort (device-sim bodies, real detectors): ECG → PPG recovery within 3 windows', function () {
    this.timeout(120_000);
    const seconds = 5 * DEFAULT_WINDOW_SECONDS;
    const bodies = [1000, 1001, 1002, 1003].map((seed) => simulatedBody(seed, seconds));
    const r = evaluateRecords(bodies, { maxImpostorTrials: 400, maxStaleTrials: 200 });
    summary(r);
    assert.equal(r.ppgRecoveryCases, 4 * 3);
    assert.ok(r.ppgRecovered / r.ppgRecoveryCases >= 0.99, `${r.ppgRecovered}/${r.ppgRecoveryCases}`);
    assert.ok(r.ecgToPpgUnlocks / r.ecgToPpgTrials >= 0.8, `${r.ecgToPpgUnlocks}/${r.ecgToPpgTrials}`);
    assert.equal(r.impostorUnlocks, 0);
    assert.equal(r.staleUnlocks, 0);
    assert.equal(r.flatGuessUnlocks, 0);
    assert.ok(r.unlockMsP99 < 500);
  });

  it('rejects parameters that can never hold the secret instead of counting them as failures', () => {
    const body = { record: 'x', durationSeconds: 100, signals: [{ signal: 'II', kind: 'ecg' as const, beatTimesSeconds: Array.from({ length: 120 }, (_, i) => i * 0.8) }] };
    assert.throws(() => evaluateRecords([body], { params: { degree: 8 } }), /degree/);
  });
});
