import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { vitalgate } from '../../../cli.js';

const physionet = (file: string) => fileURLToPath(new URL(`../../../../../../../shared/data/physionet/${file}`, import.meta.url));

describe('vitalgate keys', function () {
  this.timeout(120_000);

  it('explains the group and evaluate, with examples', async () => {
    const group = await vitalgate(['keys', '--help']);
    assert.equal(group.code, 0);
    assert.match(group.stdout, /evaluate/);
    assert.match(group.stdout, /fuzzy vault/);
    const r = await vitalgate(['keys', 'evaluate', '--help']);
    assert.equal(r.code, 0);
    for (const m of ['--window-seconds', '--degree', '--spacing-ms', '--min-guess-bits', '--impostor-trials', '--json', 'Examples', 'securityBits']) {
      assert.ok(r.stdout.includes(m), `keys evaluate --help does not mention ${m}`);
    }
  });

  it('evaluates the shared records and prints the report as JSON', async () => {
    const r = await vitalgate([
      'keys', 'evaluate', physionet('100.hea'), physionet('v102s.hea'), physionet('test01_00s.hea'),
      '--impostor-trials', '150', '--stale-trials', '50', '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout) as Record<string, unknown> & { records: Array<Record<string, unknown>> };
    for (const k of ['genuineTrials', 'genuineUnlocks', 'frr', 'impostorTrials', 'impostorUnlocks', 'far', 'unlockMsP50', 'unlockMsP99', 'securityBits']) {
      assert.equal(typeof rep[k], 'number', k);
    }
    assert.deepEqual(rep.records.map((x) => x.record), ['100', 'v102s', 'test01_00s']);
    // every pulse-bearing signal, RESP left out
    assert.deepEqual((rep.records[1]!.signals as Array<{ signal: string }>).map((s) => s.signal), ['II', 'V', 'PLETH']);
    assert.equal(rep.impostorTrials, 150);
    assert.equal(rep.impostorUnlocks, 0);
    assert.equal(rep.leadUnlocks, rep.leadTrials);
    assert.ok((rep.unlockMsP99 as number) < 500);
    assert.match(r.stderr, /keys evaluate/); // progress goes to stderr, never into the JSON
  });

  it('prints a readable report by default', async () => {
    const r = await vitalgate(['keys', 'evaluate', physionet('v102s.hea'), physionet('test01_00s.hea'), '--window-seconds', '60', '--impostor-trials', '20', '--quiet']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    for (const m of ['fuzzy vault: GF(2^16)', 'not pulse-bearing: RESP', 'impostor', 'unlock time', 'security', 'shorter than one 60 s window']) {
      assert.ok(r.stdout.includes(m), `report lacks ${m}\n${r.stdout}`);
    }
  });

  it('exits 2 for parameters that cannot hold a secret and 1 for an unreadable record', async () => {
    const bad = await vitalgate(['keys', 'evaluate', physionet('v102s.hea'), '--degree', '8', '--quiet']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /degree must be/);
    const missing = await vitalgate(['keys', 'evaluate', physionet('no-such-record.hea'), '--quiet']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no-such-record/);
    const opt = await vitalgate(['keys', 'evaluate', physionet('v102s.hea'), '--spacing-ms', 'wide']);
    assert.notEqual(opt.code, 0);
    assert.match(opt.stderr, /--spacing-ms must be a positive integer/);
  });
});
