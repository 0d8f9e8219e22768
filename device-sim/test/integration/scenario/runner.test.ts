/**
 * Scenario runner against the real embedded aedes broker: faults change what is delivered exactly
 * as the report says, and the report's ledger adds up.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { startBroker, type RunningBroker } from '@vitalgate/broker';
import { decodePayload, parseReadingTopic } from '@vitalgate/protocol';
import { loadScenario, scenarioSchema, ScenarioRunner, type DeliveredReading } from '../../../src/index.js';

describe('scenario runner', function () {
  this.timeout(60_000);
  let broker: RunningBroker;
  before(async () => { broker = await startBroker({ port: 0 }); });
  after(async () => broker.close());

  async function run(spec: unknown) {
    const sc = scenarioSchema.parse(spec);
    const sub = await mqtt.connectAsync(broker.url, { clientId: `watch-${Math.random()}` });
    await sub.subscribeAsync('vg/v1/#', { qos: 1 });
    const received: Array<{ topic: string; ok: boolean }> = [];
    sub.on('message', (topic, payload) => {
      const t = parseReadingTopic(topic);
      received.push({ topic, ok: t.ok && decodePayload(t.value.stream, payload).ok });
    });
    const runner = new ScenarioRunner(sc, { brokerUrl: broker.url, tickMs: 10 });
    const delivered: DeliveredReading[] = [];
    runner.on('delivered', (r) => delivered.push(r));
    await runner.prepare();
    await runner.run();
    await runner.close();
    await new Promise((r) => setTimeout(r, 200));
    await sub.endAsync();
    return { report: runner.report(), delivered, received: received.filter((r) => !r.topic.endsWith('/status')) };
  }

  it('delivers everything without faults, and the ledger adds up', async () => {
    const { report, delivered, received } = await run({ durationS: 1.5, devices: [{ count: 3, profile: 'mixed', transport: 'mqtt' }] });
    const t = report.totals;
    assert.equal(t.devices, 3);
    assert.ok(t.generated > 3 * 1.5 * 14 * 0.9);
    assert.equal(t.delivered, t.generated);
    assert.equal(delivered.length, t.delivered);
    assert.equal(received.length, t.delivered);
    assert.ok(received.every((r) => r.ok));
  });

  it('drop and corrupt: dropped readings never leave, corrupted ones arrive undecodable', async () => {
    const { report, received } = await run({
      durationS: 2, seed: 3,
      devices: [{ id: 'd', count: 2, profile: 'mixed', transport: 'mqtt' }],
      faults: [{ kind: 'drop', probability: 0.2 }, { kind: 'corrupt', devices: ['d-0002'], probability: 0.3 }],
    });
    const t = report.totals;
    assert.ok(t.dropped > 0 && t.corrupted > 0);
    assert.equal(t.generated, t.delivered + t.dropped + t.corrupted);
    assert.equal(received.filter((r) => r.ok).length, t.delivered);
    assert.equal(received.filter((r) => !r.ok).length, t.corrupted);
    assert.equal(report.devices.find((d) => d.deviceId === 'd-0001')!.corrupted, 0);
  });

  it('disconnect and burst: held readings are all sent after the window', async () => {
    const { report, received } = await run({
      durationS: 2,
      devices: [{ id: 'a', profile: 'mixed', transport: 'mqtt' }, { id: 'b', profile: 'mixed', transport: 'mqtt' }],
      faults: [{ kind: 'disconnect', devices: ['a'], at: 0.3, for: 0.8 }, { kind: 'burst', devices: ['b'], at: 0.5, for: 0.5 }],
    });
    assert.equal(report.totals.delivered, report.totals.generated);
    assert.equal(received.length, report.totals.generated);
  });

  it('battery drain kills the device when it reaches 0 %', async () => {
    const { report } = await run({
      durationS: 2, statusEveryS: 0.2,
      devices: [{ id: 'weak', profile: 'mixed', transport: 'mqtt' }, { id: 'strong', profile: 'mixed', transport: 'mqtt' }],
      faults: [{ kind: 'battery-drain', devices: ['weak'], percentPerMinute: 6000 }],
    });
    const weak = report.devices.find((d) => d.deviceId === 'weak')!;
    const strong = report.devices.find((d) => d.deviceId === 'strong')!;
    assert.ok(weak.diedAtS !== undefined && weak.diedAtS >= 0.9 && weak.diedAtS < 1.3, `died at ${weak.diedAtS}`);
    assert.equal(weak.battery, 0);
    assert.ok(weak.generated < strong.generated * 0.75);
    assert.equal(report.totals.deadDevices, 1);
  });

  it('rejects a bad scenario file with the path of every problem', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vg-sc-'));
    try {
      await writeFile(join(dir, 's.yaml'), 'durationS: -1\ndevices:\n  - { profile: nope, transport: serial }\nfaults:\n  - { kind: meteor }\n');
      await assert.rejects(loadScenario(join(dir, 's.yaml')), (e: Error) => {
        for (const p of ['durationS', 'devices.0.profile', 'devices.0', 'faults.0.kind']) assert.ok(e.message.includes(p), `${p} missing in:\n${e.message}`);
        return true;
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
