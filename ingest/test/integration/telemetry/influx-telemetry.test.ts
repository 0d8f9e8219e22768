/**
 * The telemetry writer against a real influxd on loopback: points arrive on the timer and on stop;
 * a field off the allowlist is refused and never reaches InfluxDB; with influxd down nothing
 * throws, the buffer stays bounded (oldest dropped, counted), and the rest arrives after a restart.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InfluxDB } from 'influx';
import { requireProgram, startInfluxd, type InfluxdNode } from '@vitalgate/test-support';
import { InfluxTelemetry, type TelemetryPoint } from '../../../src/index.js';

const DB = 'vg_telemetry_test';
const ALLOWED = ['requests', 'latency_ms'] as const;

describe('telemetry: InfluxDB writer', function () {
  this.timeout(60_000);
  let dir: string;
  let node: InfluxdNode | undefined;
  let reader: InfluxDB;
  const open: InfluxTelemetry[] = [];

  before(async function () {
    requireProgram(this, 'influxd', 'influxdb');
    dir = await mkdtemp(join(tmpdir(), 'vg-telemetry-'));
    node = await startInfluxd(dir);
    reader = new InfluxDB({ host: '127.0.0.1', port: node.port, database: DB });
  });
  after(async () => {
    for (const t of open) await t.stop();
    await node?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  function telemetry(o: { flushIntervalMs?: number; maxBufferedPoints?: number } = {}): { t: InfluxTelemetry; warnings: string[] } {
    const warnings: string[] = [];
    const t = new InfluxTelemetry({ url: `${node!.url}/${DB}`, allowedFields: ALLOWED, warn: (m) => warnings.push(m), flushIntervalMs: 60_000, ...o });
    open.push(t);
    return { t, warnings };
  }

  const point = (measurement: string, i: number, extra: Partial<TelemetryPoint> = {}): TelemetryPoint =>
    ({ measurement, tags: { route: '/v1/batches', instance: 'a' }, fields: { requests: i, latency_ms: i / 10 }, time: new Date(Date.UTC(2026, 0, 1) + i), ...extra });

  const values = async (measurement: string): Promise<number[]> =>
    (await reader.query<{ requests: number }>(`SELECT "requests" FROM "${measurement}" ORDER BY time ASC`)).map((r) => r.requests);

  async function until(what: string, f: () => Promise<boolean>, ms = 10_000): Promise<void> {
    for (const deadline = Date.now() + ms; !(await f());) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('flushes on its timer (creating the database); the points can be queried back', async () => {
    const { t, warnings } = telemetry({ flushIntervalMs: 100 });
    for (let i = 1; i <= 5; i++) assert.equal(t.write(point('timer', i)), true);
    await until('the timer flush', async () => t.stats().written === 5);
    assert.deepEqual(await values('timer'), [1, 2, 3, 4, 5]);
    const rows = await reader.query<{ latency_ms: number; route: string }>(`SELECT "latency_ms", "route" FROM "timer" WHERE "instance" = 'a'`);
    assert.deepEqual(rows.map((r) => [r.latency_ms, r.route]), [[0.1, '/v1/batches'], [0.2, '/v1/batches'], [0.3, '/v1/batches'], [0.4, '/v1/batches'], [0.5, '/v1/batches']]);
    assert.deepEqual(warnings, []);
  });

  it('refuses a point with a field off the allowlist (a vital sign must never be written by accident), naming the field but never its value', async () => {
    const { t, warnings } = telemetry();
    assert.equal(t.write({ measurement: 'refused', fields: { requests: 1, hr: 71.5 } }), false);
    assert.equal(t.write({ measurement: 'refused', fields: { hr: 71.5 } }), false);
    assert.equal(t.write({ measurement: 'refused', fields: { requests: Number.NaN } }), false);
    assert.equal(t.write({ measurement: 'refused', fields: {} }), false);
    assert.equal(t.write({ measurement: 'bad name!', fields: { requests: 1 } }), false);
    // Garbage from an untyped caller: refused, not thrown.
    assert.equal(t.write(null as unknown as TelemetryPoint), false);
    assert.equal(t.write({ measurement: 'refused', fields: null } as unknown as TelemetryPoint), false);
    assert.equal(t.write(point('refused', 7)), true);
    await t.flush();
    assert.deepEqual(t.stats(), { written: 1, dropped: 0, refused: 7, buffered: 0 });
    assert.equal(warnings.filter((w) => w.includes('"hr" is not on the allowlist')).length, 1, 'warned once per field name');
    assert.ok(warnings.every((w) => !w.includes('71.5')), 'a refused value is never echoed');
    const keys = await reader.query<{ fieldKey: string }>('SHOW FIELD KEYS FROM "refused"');
    assert.deepEqual(keys.map((k) => k.fieldKey).sort(), ['latency_ms', 'requests']);
    assert.throws(() => new InfluxTelemetry({ url: node!.url, allowedFields: [] }), /allowedFields/);
  });

  it('with influxd down: never throws, keeps the newest points up to its bound (dropping and counting the oldest), and writes them once influxd is back', async () => {
    const { t, warnings } = telemetry({ maxBufferedPoints: 50 });
    await node!.stop();
    try {
      for (let i = 1; i <= 30; i++) assert.equal(t.write(point('outage', i)), true);
      await t.flush(); // fails, resolves
      await t.flush();
      for (let i = 31; i <= 80; i++) t.write(point('outage', i));
      await t.flush();
      assert.deepEqual(t.stats(), { written: 0, dropped: 30, refused: 0, buffered: 50 });
      assert.equal(warnings.filter((w) => w.includes('unreachable')).length, 1, `one warning per outage: ${warnings.join('\n')}`);
      assert.match(warnings.find((w) => w.includes('unreachable'))!, new RegExp(`127\\.0\\.0\\.1:${node!.port}`));
      assert.equal(warnings.filter((w) => w.includes('buffer full')).length, 1);
    } finally {
      await node!.restart();
    }
    await t.flush();
    assert.deepEqual(t.stats(), { written: 50, dropped: 30, refused: 0, buffered: 0 });
    assert.deepEqual(await values('outage'), Array.from({ length: 50 }, (_, i) => 31 + i));
    assert.match(warnings.at(-1)!, /written again; 30 points were dropped meanwhile/);
  });

  it('stop() flushes what is buffered; a write after stop is refused', async () => {
    const { t } = telemetry();
    for (let i = 1; i <= 3; i++) t.write(point('stopped', i));
    await t.stop();
    assert.deepEqual(await values('stopped'), [1, 2, 3]);
    assert.equal(t.write(point('stopped', 4)), false);
    await t.stop(); // twice is fine
  });

  it('stop() with influxd down returns promptly, counting what it could not write', async () => {
    const { t, warnings } = telemetry();
    t.write(point('lost', 1));
    await node!.stop();
    try {
      const started = Date.now();
      await t.stop();
      assert.ok(Date.now() - started < 5000);
      assert.equal(t.stats().dropped, 1);
      assert.match(warnings.at(-1)!, /1 point not written at stop/);
    } finally {
      await node!.restart();
    }
  });
});
