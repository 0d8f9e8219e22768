import assert from 'node:assert/strict';
import { MIXED_PROFILE_1000, anchoringComparison, measureGas, type GasReport } from '../../src/index.js';

describe('contracts: gas', function () {
  let report: GasReport;
  before(async () => {
    report = await measureGas();
  });

  it('measures every state-changing function on a fresh anvil', () => {
    const expected = [
      'registerGateway', 'registerPatient', 'registerClinician', 'setEncryptionKey', 'createCareTeam', 'addCareTeamMember',
      'grant', 'grantBySig', 'revoke', 'revokeBySig', 'breakGlass', 'reportDenied', 'ban', 'unban', 'anchor', 'anchorAccessLog',
    ];
    assert.deepEqual(Object.keys(report.functions).sort(), [...expected].sort());
    for (const [name, gas] of Object.entries(report.functions)) {
      assert.ok(Number.isInteger(gas) && gas > 21_000 && gas < 500_000, `${name}: ${gas}`);
    }
    for (const gas of Object.values(report.deployment)) assert.ok(gas > 100_000);
    assert.equal(report.chainId, 31337);
    assert.match(report.solc, /^0\.8\./);
  });

  it('an anchor costs under 60,000 gas whatever the number of batches', () => {
    assert.ok(report.functions.anchor < 60_000, `anchor: ${report.functions.anchor}`);
    assert.deepEqual(
      report.anchorByCount.map((a) => a.count),
      [1, 75_000],
    );
    for (const a of report.anchorByCount) assert.ok(a.gasUsed < 60_000, `count ${a.count}: ${a.gasUsed}`);
    const one = report.anchorByCount[0]!;
    const many = report.anchorByCount[1]!;
    assert.ok(Math.abs(many.gasUsed - one.gasUsed) < 100);
    assert.ok(report.functions.anchorAccessLog < 60_000);
  });

  it('gasPerReadingAnchored for the mixed profile at 1000 devices, next to one tx per batch and per reading', () => {
    const a = report.anchoring;
    assert.equal(a.readingsPerPeriod, 423_000);
    assert.equal(a.batchesPerPeriod, 75_000);
    assert.equal(report.gasPerReadingAnchored, report.functions.anchor / 423_000);
    assert.ok(report.gasPerReadingAnchored < 0.2);
    assert.equal(a.oneTxPerBatch.gasPerReading, (a.oneTxPerBatch.txGas * 75_000) / 423_000);
    assert.equal(a.oneTxPerReading.gasPerReading, a.oneTxPerReading.txGas);
    assert.ok(a.oneTxPerBatch.gasPerReading > 50_000 * a.gasPerReadingAnchored);
    assert.ok(JSON.stringify(report).length > 0, 'serialisable for --json');
  });

  it('anchoringComparison arithmetic', () => {
    const c = anchoringComparison(50_000, 40_000, { ...MIXED_PROFILE_1000, devices: 10 });
    assert.equal(c.readingsPerPeriod, 4230);
    assert.equal(c.batchesPerPeriod, 750);
    assert.equal(c.gasPerReadingAnchored, 50_000 / 4230);
    assert.equal(c.oneTxPerBatch.gasPerPeriod, 40_000 * 750);
    assert.equal(c.oneTxPerReading.gasPerPeriod, 40_000 * 4230);
  });
});
