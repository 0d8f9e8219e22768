/**
 * `vitalgate chain gas`: measures every state-changing function on its own fresh anvil and compares
 * anchoring per reading with one transaction per batch and per reading.
 */
import assert from 'node:assert/strict';
import { vitalgate } from '../cli.js';

describe('vitalgate chain gas', function () {
  this.timeout(120_000);

  it('--json prints every function\'s gas, anchor under 60,000, and the three per-reading figures at the top level', async () => {
    const r = await vitalgate(['chain', 'gas', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as {
      functions: Record<string, number>;
      anchorByCount: { count: number; gasUsed: number }[];
      gasPerReadingAnchored: number;
      gasPerReadingOneTxPerBatch: number;
      gasPerReadingOneTxPerReading: number;
      anchoring: { readingsPerPeriod: number; batchesPerPeriod: number; anchorGas: number };
    };
    for (const f of ['registerGateway', 'registerPatient', 'registerClinician', 'grant', 'grantBySig', 'revoke', 'revokeBySig', 'breakGlass', 'anchor', 'anchorAccessLog']) {
      const g = j.functions[f];
      assert.ok(Number.isInteger(g) && g! > 21_000, `${f}: ${g}`);
    }
    assert.ok(j.functions.anchor! < 60_000, `anchor ${j.functions.anchor}`);
    assert.ok(j.functions.anchorAccessLog! < 60_000, `anchorAccessLog ${j.functions.anchorAccessLog}`);
    assert.equal(j.anchoring.readingsPerPeriod, 423_000);
    assert.equal(j.anchoring.batchesPerPeriod, 75_000);
    const oneBatch = j.anchorByCount.find((a) => a.count === 1)!.gasUsed;
    assert.equal(j.gasPerReadingAnchored, j.functions.anchor! / 423_000);
    assert.ok(j.gasPerReadingAnchored > 0 && j.gasPerReadingAnchored < 1, `${j.gasPerReadingAnchored}`);
    assert.equal(j.gasPerReadingOneTxPerBatch, (oneBatch * 75_000) / 423_000);
    assert.equal(j.gasPerReadingOneTxPerReading, oneBatch);
  });

  it('prints an aligned table and the per-reading comparison by default', async () => {
    const r = await vitalgate(['chain', 'gas']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^grantBySig +\d{2,3},\d{3}$/m);
    assert.match(r.stdout, /^anchorAccessLog +\d{2},\d{3}$/m);
    assert.match(r.stdout, /423,000 readings and 75,000 batches per period/);
    assert.match(r.stdout, /^one anchor per gateway per period \(Vitalgate\) +\d{2},\d{3} +0\.\d{3}$/m);
    assert.match(r.stdout, /^one transaction per reading \(per-record designs\) +[\d,]+ +\d{2},\d{3}$/m);
  });

  it('--help explains the option and the per-reading figures', async () => {
    const r = await vitalgate(['chain', 'gas', '--help']);
    assert.equal(r.code, 0);
    for (const m of ['--json', 'gasPerReadingAnchored', 'gasPerReadingOneTxPerBatch', 'gasPerReadingOneTxPerReading', 'fresh']) {
      assert.ok(r.stdout.includes(m), `chain gas --help does not mention ${m}`);
    }
    const chain = await vitalgate(['chain', '--help']);
    assert.match(chain.stdout, /\n  gas\b/);
  });
});
