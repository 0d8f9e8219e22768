import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { readWfdbRecord } from '@vitalgate/biosignal';
import { ReplayDevice } from '../src/index.js';

const rec = (name: string) => fileURLToPath(new URL(`../../../../shared/data/physionet/${name}.hea`, import.meta.url));

describe('WFDB replay device', () => {
  it('sends v102s lead II as µV ECG and PLETH as ppg, sample for sample, on record time', async () => {
    const r = await readWfdbRecord(rec('v102s'));
    const dev = await ReplayDevice.open(rec('v102s'), { deviceId: 'rep', patientId: 'p' });
    assert.deepEqual(dev.streams, ['ecg', 'ppg']);
    const t0 = 1_800_000_000_000;
    dev.start(t0);
    const out = dev.due(t0 + 2000);
    const ecg = out.filter((x) => x.stream === 'ecg');
    const ppg = out.filter((x) => x.stream === 'ppg');
    assert.equal(ecg.length, 20); // 250 Hz in 25-sample frames for 2 s
    assert.equal(ppg.length, 20);
    const ii = r.header.signals.findIndex((s) => s.description === 'II');
    const gain = r.header.signals[ii]!.gain;
    const samples = ecg.flatMap((x) => ('samples' in x.body ? x.body.samples : []));
    for (let i = 0; i < samples.length; i++) assert.equal(samples[i], Math.round((r.digital[ii]![i]! / gain) * 1000));
    assert.equal(ecg[4]!.body.ts, t0 + 400);
    const pleth = r.header.signals.findIndex((s) => s.description === 'PLETH');
    assert.deepEqual(('samples' in ppg[0]!.body ? ppg[0]!.body.samples : []).slice(0, 5), Array.from(r.digital[pleth]!.subarray(0, 5)));
    const seqs = out.map((x) => x.body.seq);
    assert.deepEqual(seqs, seqs.map((_, i) => i));
  });

  it('releases frames at the replay speed but keeps record timestamps', async () => {
    const dev = await ReplayDevice.open(rec('test01_00s'), { deviceId: 'rep', patientId: 'p', speed: 4 });
    dev.start(0 + 1_800_000_000_000);
    const out = dev.due(1_800_000_000_000 + 500);
    // 0.5 s of wall time at 4× is 2 s of record: 500 Hz in 50-sample frames → 20 frames.
    assert.equal(out.length, 20);
    assert.equal(out.at(-1)!.body.ts, 1_800_000_000_000 + 1900);
  });

  it('ends at the end of the record, or loops with increasing timestamps', async () => {
    const once = await ReplayDevice.open(rec('test01_00s'), { deviceId: 'a', patientId: 'p' });
    once.start(1_800_000_000_000);
    assert.equal(once.due(1_800_000_000_000 + 60_000).length, 80); // 8 s of 500 Hz / 50
    assert.ok(once.finished);
    const loop = await ReplayDevice.open(rec('test01_00s'), { deviceId: 'b', patientId: 'p', loop: true });
    loop.start(1_800_000_000_000);
    const two = loop.due(1_800_000_000_000 + 16_000);
    assert.equal(two.length, 160);
    const ts = two.map((x) => x.body.ts);
    assert.ok(ts.every((t, i) => i === 0 || t > ts[i - 1]!));
    assert.deepEqual((two[80]!.body as { samples: number[] }).samples, (two[0]!.body as { samples: number[] }).samples);
  });

  it('reports heart rate from the beat annotations of MIT-BIH 100, consistent with its RR intervals', async () => {
    const dev = await ReplayDevice.open(rec('100'), { deviceId: 'mit', patientId: 'p', lead: 'MLII' });
    assert.deepEqual(dev.streams, ['ecg', 'hr']);
    dev.start(1_800_000_000_000);
    const hr = dev.due(1_800_000_000_000 + 30_000).filter((x) => x.stream === 'hr').map((x) => x.body as unknown as { values: { hr: number }; rr?: number[] });
    assert.ok(hr.length >= 28);
    for (const h of hr) {
      assert.ok(h.values.hr > 55 && h.values.hr < 110, `hr ${h.values.hr}`);
      for (const r of h.rr ?? []) assert.ok(r > 500 && r < 1200, `rr ${r}`);
    }
  });

  it('says which signals exist when a lead is missing', async () => {
    await assert.rejects(ReplayDevice.open(rec('100'), { deviceId: 'x', patientId: 'p', lead: 'V1' }), /no signal "V1".*MLII, V5/);
  });
});
