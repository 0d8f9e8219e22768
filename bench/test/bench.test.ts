import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { startBroker } from '@vitalgate/broker';
import { decodePayload, encodeBody, readingTopic } from '@vitalgate/protocol';
import { parseArgs, DEFAULTS, HELP, UsageError } from '../src/args.js';
import { Histogram, Ledger } from '../src/ledger.js';
import { makeTemplates, patch, SEQ_BASE } from '../src/load.js';
import { BARE_SUBSCRIBER, Child } from '../src/procs.js';

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
      assert.throws(() => parseArgs(['--skip-saturation', '--skip-sustained', '--skip-broker', '--skip-cloud', '--skip-care', '--skip-dashboard', '--skip-history']), UsageError);
      assert.equal(parseArgs(['--skip-saturation', '--skip-sustained', '--skip-broker', '--skip-cloud', '--skip-care', '--skip-dashboard']).skipHistory, false, 'the history is still there to measure');
      assert.equal(parseArgs(['--skip-saturation', '--skip-sustained', '--skip-broker', '--skip-cloud', '--skip-care']).skipDashboard, false, 'the dashboard is still there to measure');
      assert.equal(parseArgs(['--skip-saturation', '--skip-sustained', '--skip-broker', '--skip-cloud']).skipCare, false, 'the care-team part is still there to measure');
      assert.equal(parseArgs(['--skip-saturation', '--skip-sustained']).skipBroker, false);
      assert.equal(parseArgs(['--skip-saturation', '--skip-sustained', '--skip-broker']).skipCloud, false, 'the cloud part is still there to measure');
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
  });

  describe('ledger', () => {
    it('gives nearest-rank percentiles', () => {
      const h = new Histogram(1000);
      for (let i = 1; i <= 100; i++) h.add(i);
      assert.equal(h.percentile(50), 50);
      assert.equal(h.percentile(99), 99);
      assert.equal(h.percentile(100), 100);
      assert.equal(new Histogram().percentile(50), null);
    });
    it('reconciles lost, duplicated and invented readings', () => {
      const l = new Ledger();
      const body = (seq: number) => ({ seq, ts: 1_700_000_000_000, rate: 250, samples: [1, 2, 3] });
      l.ack('d1', 'ecg', 0, 1000);
      l.ack('d1', 'ecg', 1, 1000);
      l.ack('d1', 'hr', 2, 1000);
      l.ack('d2', 'ecg', 0, 1000);
      l.fail('d2', 1);
      l.foundBatch('d1', 'ecg', [body(0), body(1), body(1)], 3000); // one duplicate
      l.foundBatch('d1', 'ecg', [body(2)], 3000); // seq 2 was hr: invented
      l.foundBatch('d3', 'ecg', [body(0)], 3000); // unknown device: invented
      l.foundBatch('d2', 'ecg', [body(1)], undefined); // its publish failed
      const r = l.reconcile();
      assert.equal(r.found, 2);
      assert.equal(r.duplicates, 1);
      assert.equal(r.invented, 2);
      assert.equal(r.foundAfterFailedPublish, 1);
      assert.equal(r.lost, 2); // d1 seq 2 (hr) and d2 seq 0
      assert.equal(r.samples, 6);
      assert.equal(l.latency.percentile(50), 2000);
    });
  });

  describe('saturation load', () => {
    it('patches seq and ts into templates that the gateway decoder accepts', () => {
      const start = Date.UTC(2025, 0, 1);
      const ts = makeTemplates(start);
      assert.ok(ts.length > 100, `${ts.length} templates`);
      assert.deepEqual(new Set(ts.map((t) => t.stream)), new Set(['ecg', 'ppg', 'hr', 'spo2', 'temp']));
      for (const t of ts.slice(0, 20)) {
        const r = decodePayload(t.stream, patch(t, SEQ_BASE + 12345, start + 99_999));
        assert.ok(r.ok, r.ok ? '' : r.reason);
        assert.equal(r.value.body.seq, SEQ_BASE + 12345);
        assert.equal(r.value.body.ts, start + 99_999);
      }
    });
  });

  describe('bare subscriber', function () {
    this.timeout(20_000);
    it('counts readings, tells the marker apart, and reports on request', async () => {
      const broker = await startBroker({ port: 0 });
      const marker = readingTopic('bench-marker', 'm', 'ecg');
      const sub = new Child('bare-subscriber', BARE_SUBSCRIBER, ['--broker', broker.url, '--marker-topic', marker], () => undefined, { stdin: true });
      const pub = await mqtt.connectAsync(broker.url, { clientId: 'bench-test-pub' });
      try {
        await sub.waitFor('ready', 10_000);
        const payload = Buffer.from(encodeBody({ seq: 0, ts: Date.now(), values: { hr: 60 } }, 'cbor'));
        for (let i = 0; i < 20; i++) await pub.publishAsync(readingTopic('p1', 'd1', 'hr'), payload, { qos: 1 });
        await pub.publishAsync(marker, payload, { qos: 1 });
        let r: Record<string, unknown> = {};
        for (let tries = 0; tries < 100; tries++) {
          const next = sub.waitFor('report', 5000);
          sub.send('report');
          r = await next;
          if (r.markerAt !== null) break;
          await new Promise((res) => setTimeout(res, 20));
        }
        assert.equal(r.count, 20);
        assert.equal(typeof r.lastAt, 'number');
        assert.equal(typeof r.markerAt, 'number');
        const final = sub.waitFor('final', 5000);
        sub.send('exit');
        assert.equal((await final).count, 20);
        assert.equal((await sub.exited).code, 0);
      } finally {
        await pub.endAsync(true);
        await sub.stop(2000);
        await broker.close();
      }
    });
  });
});
