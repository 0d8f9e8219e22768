/**
 * `vitalgate export fhir` on a real data directory (run: broker, gateway, simulated devices, anvil
 * anchoring): the bundle is FHIR R4, it states exactly the readings `open` decrypts for that
 * patient, its Provenances name each batch's anchor as the anchor log has it, and bad input exits 2.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readAnchors } from '@vitalgate/edge-gateway';
import { fromFhirBundle, sortReadings, type FhirBundle, type FhirReading, type StreamName } from '@vitalgate/protocol';
import { assertFhirValid } from '@vitalgate/protocol/fhir-schema';
import { vitalgate } from '../cli.js';

describe('vitalgate export fhir', function () {
  this.timeout(240_000);
  let dir: string;
  let data: string;
  const demo = '--allow-demo-passphrase';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vg-fhir-'));
    data = join(dir, 'data');
    const run = await vitalgate(['run', '--devices', '2', '--duration', '4', '--batch-window-ms', '500', '--anchor-seconds', '2', '--data-dir', data, '--json'], {}, 200_000);
    assert.equal(run.code, 0, run.stderr);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('exports exactly the readings open decrypts for the patient, schema-valid, with anchored Provenance', async () => {
    const out = join(dir, 'bundle.json');
    const r = await vitalgate(['export', 'fhir', '--data-dir', data, '--patient', 'patient-0001', '--from', '2000-01-01T00:00:00Z', '--to', 'now', '--out', out, demo]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /FHIR R4 schema: valid/);
    const bundle = JSON.parse(await readFile(out, 'utf8')) as FhirBundle;
    for (const e of bundle.entry) assertFhirValid(e.resource);
    assertFhirValid(bundle);

    const opened = await vitalgate(['open', '--data-dir', data, '--json', demo]);
    assert.equal(opened.code, 0, opened.stderr);
    const expected: FhirReading[] = opened.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.patientId === 'patient-0001' && l.stream !== 'acc')
      .map(({ patientId: _p, deviceId, stream, batchId: _b, epoch: _e, ...body }) => ({ deviceId: deviceId as string, stream: stream as StreamName, body: body as unknown as FhirReading['body'] }));
    assert.ok(expected.length > 50, `${expected.length} readings`);
    const back = fromFhirBundle(bundle);
    assert.equal(back.patientId, 'patient-0001');
    assert.deepEqual(back.readings, sortReadings(expected));

    const anchors = await readAnchors(join(data, 'anchors.jsonl'));
    const txOf = new Map(anchors.flatMap((a) => (a.mined ? a.ids.map((id) => [id, a.mined!.txHash] as const) : [])));
    assert.ok(back.batches.length > 0);
    let anchored = 0;
    for (const b of back.batches) {
      assert.equal(b.anchor?.txHash, txOf.get(b.id), `batch ${b.id}`);
      if (b.anchor) anchored++;
    }
    assert.ok(anchored > 0, 'some batches are anchored and say so');
  });

  it('refuses bad input with exit 2 and a clear message', async () => {
    const base = ['export', 'fhir', '--data-dir', data, demo];
    const cases: Array<[string[], RegExp]> = [
      [[...base, '--patient', 'nobody', '--from', '-1h', '--to', 'now'], /unknown patient nobody/],
      [[...base, '--patient', 'patient-0001', '--from', 'yesterday', '--to', 'now'], /"yesterday" is not a time/],
      [[...base, '--patient', 'patient-0001', '--from', 'now', '--to', '-1h'], /--from .* must be before --to/],
      [[...base, '--patient', 'patient-0001', '--from', '2026-02-30T00:00:00Z', '--to', 'now'], /not a valid ISO 8601 time/],
      [[...base, '--from', '-1h', '--to', 'now'], /--patient is required/],
      [['export', 'fhir', '--data-dir', join(dir, 'missing'), '--patient', 'patient-0001', '--from', '-1h', '--to', 'now', demo], /no such directory/],
      [['export', 'fhir', '--data-dir', dir, '--patient', 'patient-0001', '--from', '-1h', '--to', 'now', demo], /not a Vitalgate data directory/],
    ];
    for (const [args, message] of cases) {
      const r = await vitalgate(args);
      assert.equal(r.code, 2, `${args.join(' ')}\n${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stdout, '');
    }
    const help = await vitalgate(['export', 'fhir', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--patient <id>[\s\S]*Exit codes/);
  });
});
