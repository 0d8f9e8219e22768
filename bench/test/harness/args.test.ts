import assert from 'node:assert/strict';
import { parseArgs, DEFAULTS, HELP, UsageError } from '../../src/harness/args.js';

describe('bench', () => {
  describe('flags', () => {
    it('has the documented defaults', () => {
      const a = parseArgs([]);
      assert.equal(a.devices, 1000);
      assert.equal(a.seconds, 20);
      assert.equal(a.saturationSeconds, 10);
      assert.equal(a.json, false);
      assert.deepEqual(a, DEFAULTS);
    });
    it('parses values in both spellings and refuses bad ones', () => {
      const a = parseArgs(['--devices', '50', '--seconds=5', '--saturation-seconds', '3', '--json', '--skip-saturation']);
      assert.equal(a.devices, 50);
      assert.equal(a.seconds, 5);
      assert.equal(a.saturationSeconds, 3);
      assert.equal(a.json, true);
      assert.equal(a.skipSaturation, true);
      assert.throws(() => parseArgs(['--devices', '0']), UsageError);
      assert.throws(() => parseArgs(['--devices', '1.5']), UsageError);
      assert.throws(() => parseArgs(['--seconds']), UsageError);
      assert.throws(() => parseArgs(['--frobnicate']), UsageError);
      assert.throws(() => parseArgs(['--skip-saturation', '--skip-sustained', '--skip-broker', '--skip-cloud', '--skip-care', '--skip-dashboard', '--skip-history', '--skip-fhir']), UsageError);
      assert.equal(parseArgs(['--skip-saturation', '--skip-sustained', '--skip-broker', '--skip-cloud', '--skip-care', '--skip-dashboard', '--skip-history']).skipFhir, false, 'the FHIR export is still there to measure');
      assert.equal(parseArgs(['--skip-saturation', '--skip-sustained', '--skip-broker', '--skip-cloud', '--skip-care', '--skip-dashboard']).skipHistory, false, 'the history is still there to measure');
      assert.equal(parseArgs(['--skip-saturation', '--skip-sustained', '--skip-broker', '--skip-cloud', '--skip-care']).skipDashboard, false, 'the dashboard is still there to measure');
      assert.equal(parseArgs(['--skip-saturation', '--skip-sustained', '--skip-broker', '--skip-cloud']).skipCare, false, 'the care-team part is still there to measure');
      assert.equal(parseArgs(['--skip-saturation', '--skip-sustained']).skipBroker, false);
      assert.equal(parseArgs(['--skip-saturation', '--skip-sustained', '--skip-broker']).skipCloud, false, 'the cloud part is still there to measure');
    });
    it('run (d), the gateway hosting the broker, has a window of its own (it acknowledges once durable)', () => {
      assert.equal(DEFAULTS.saturationWindowInProcess, 4000);
      const a = parseArgs(['--saturation-window', '50', '--saturation-window-in-process', '2000']);
      assert.deepEqual([a.saturationWindow, a.saturationWindowInProcess], [50, 2000]);
      assert.throws(() => parseArgs(['--saturation-window-in-process', '70000']), /at most 60000/);
      assert.throws(() => parseArgs(['--saturation-window-in-process', '0']), UsageError);
      assert.match(HELP, /--saturation-window-in-process/);
    });
    it('--only-cloud skips every other part; the cloud flags take positive numbers', () => {
      const a = parseArgs(['--only-cloud', '--cloud-devices', '20', '--cloud-outage-seconds=15']);
      assert.deepEqual([a.skipSustained, a.skipSaturation, a.skipBroker, a.skipDecode, a.skipCloud, a.skipCare], [true, true, true, true, false, true]);
      assert.deepEqual([a.cloudDevices, a.cloudOutageSeconds], [20, 15]);
      assert.deepEqual([DEFAULTS.cloudDevices, DEFAULTS.cloudOutageSeconds], [100, 60]);
      assert.throws(() => parseArgs(['--cloud-devices', '0']), UsageError);
      assert.throws(() => parseArgs(['--cloud-outage-seconds', 'x']), UsageError);
    });
    it('--only-dashboard skips every other part; the dashboard flags take positive numbers', () => {
      const a = parseArgs(['--only-dashboard', '--dashboard-devices', '20', '--dashboard-seconds=5']);
      assert.deepEqual([a.skipSustained, a.skipSaturation, a.skipBroker, a.skipDecode, a.skipCloud, a.skipCare, a.skipDashboard], [true, true, true, true, true, true, false]);
      assert.deepEqual([a.dashboardDevices, a.dashboardSeconds], [20, 5]);
      assert.deepEqual([DEFAULTS.dashboardDevices, DEFAULTS.dashboardSeconds], [100, 20]);
      assert.equal(parseArgs(['--only-care']).skipDashboard, true);
      assert.throws(() => parseArgs(['--only-dashboard', '--skip-dashboard']), UsageError);
      assert.throws(() => parseArgs(['--dashboard-devices', '0']), UsageError);
    });
    it('--only-history skips every other part; the history flags take positive numbers', () => {
      const a = parseArgs(['--only-history', '--history-runs', '3', '--history-epoch-minutes=60']);
      assert.deepEqual([a.skipSustained, a.skipSaturation, a.skipBroker, a.skipDecode, a.skipCloud, a.skipCare, a.skipDashboard, a.skipHistory], [true, true, true, true, true, true, true, false]);
      assert.deepEqual([a.historyRuns, a.historyEpochMinutes], [3, 60]);
      assert.deepEqual([DEFAULTS.historyRuns, DEFAULTS.historyEpochMinutes], [5, 15]);
      assert.equal(parseArgs(['--only-dashboard']).skipHistory, true);
      assert.equal(parseArgs(['--skip-history']).skipDashboard, false);
      assert.throws(() => parseArgs(['--only-history', '--skip-history']), UsageError);
      assert.throws(() => parseArgs(['--history-runs', '0']), UsageError);
      assert.match(HELP, /--only-history/);
    });
    it('--only-care skips every other part; --skip-care only the care teams', () => {
      const a = parseArgs(['--only-care', '--json']);
      assert.deepEqual([a.skipSustained, a.skipSaturation, a.skipBroker, a.skipDecode, a.skipCloud, a.skipCare], [true, true, true, true, true, false]);
      assert.equal(a.json, true);
      const b = parseArgs(['--skip-care']);
      assert.deepEqual([b.skipSustained, b.skipSaturation, b.skipBroker, b.skipDecode, b.skipCloud, b.skipCare], [false, false, false, false, false, true]);
      // Each --only-X leaves nothing of the other, so the two together, or one with its own --skip-X, measure nothing.
      assert.throws(() => parseArgs(['--only-care', '--skip-care']), UsageError);
      assert.throws(() => parseArgs(['--only-cloud', '--only-care']), UsageError);
      assert.throws(() => parseArgs(['--only-cloud', '--skip-cloud']), UsageError);
      assert.match(HELP, /--only-care/);
      assert.match(HELP, /--skip-care/);
    });
    it('--capacity and its flags: defaults, modes, the search bounds', () => {
      const d = parseArgs(['--capacity']);
      assert.equal(d.capacity, true);
      assert.deepEqual([d.capacitySeconds, d.capacityMin, d.capacityMax, d.capacityResolution, d.capacityWindow, d.capacityOverload, d.repeatAt, d.repeat],
        [60, 250, 4000, null, 64, true, 1000, 5]);
      assert.deepEqual(d.capacityBrokers, ['ours', 'mosquitto', 'in-process']);
      assert.equal(d.capacityBrokersExplicit, false);
      const a = parseArgs(['--capacity', '--capacity-seconds=30', '--capacity-min', '100', '--capacity-max', '800', '--capacity-resolution', '50',
        '--capacity-brokers', 'ours,in-process', '--skip-overload', '--repeat-at', '500', '--repeat', '0', '--capacity-window', '16', '--json']);
      assert.deepEqual([a.capacitySeconds, a.capacityMin, a.capacityMax, a.capacityResolution, a.capacityWindow, a.capacityOverload, a.repeatAt, a.repeat],
        [30, 100, 800, 50, 16, false, 500, 0]);
      assert.deepEqual(a.capacityBrokers, ['ours', 'in-process']);
      assert.equal(a.capacityBrokersExplicit, true);
      assert.equal(parseArgs(['--skip-overload', '--capacity-overload']).capacityOverload, true);
      assert.throws(() => parseArgs(['--capacity-brokers', 'ours,emqx']), UsageError);
      assert.throws(() => parseArgs(['--capacity-brokers', ',']), UsageError);
      assert.throws(() => parseArgs(['--capacity-min', '500', '--capacity-max', '400']), UsageError);
      assert.throws(() => parseArgs(['--capacity-window', '500']), UsageError);
      assert.throws(() => parseArgs(['--repeat', '-1']), UsageError);
      for (const flag of ['--capacity', '--capacity-seconds', '--capacity-brokers', '--skip-overload', '--repeat-at', 'publishToReceiveMean', 'durableToUploaded', 'loadGeneratorUnder25Pct']) assert.match(HELP, new RegExp(flag));
    });
  });
});
