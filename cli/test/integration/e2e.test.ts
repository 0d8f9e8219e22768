/**
 * The pipeline end to end, through the real command: 50 simulated devices for 10 s through the
 * embedded aedes broker into the gateway, then `vitalgate open` reads the store back. Every reading
 * the broker acknowledged must come back exactly once and unchanged, and nothing else may.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeBody, type ReadingBody } from '@vitalgate/protocol';
import { vitalgate } from '../cli.js';
import { LocalObjectStore } from '@vitalgate/ingest';

interface Line extends Record<string, unknown> { patientId: string; deviceId: string; stream: string; seq: number }

const key = (r: Line) => `${r.deviceId}|${r.stream}|${r.seq}`;
const bodyOf = (r: Record<string, unknown>): ReadingBody => {
  const { patientId: _p, deviceId: _d, stream: _s, batchId: _b, epoch: _e, ...body } = r;
  return body as unknown as ReadingBody;
};

describe('end to end: vitalgate run → vitalgate open', function () {
  this.timeout(180_000);
  let dir: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vg-e2e-'));
    await writeFile(join(dir, 'pass'), 'e2e passphrase, not the demo one\n', { mode: 0o600 });
    env = { VITALGATE_PASSPHRASE_FILE: join(dir, 'pass') };
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('reconciles every (device, stream, seq) of 50 devices × 10 s exactly, and stores no plaintext', async () => {
    const data = join(dir, 'data');
    const sentLog = join(dir, 'sent.jsonl');
    const run = await vitalgate(['run', '--devices', '50', '--duration', '10', '--data-dir', data, '--encoding', 'mixed', '--sent-log', sentLog, '--json'], env);
    assert.equal(run.code, 0, run.stderr);
    const summary = JSON.parse(run.stdout) as { published: number; acked: number; failed: number; sealedReadings: number; reconciled: boolean };
    assert.equal(summary.failed, 0);
    assert.equal(summary.reconciled, true);
    assert.doesNotMatch(run.stderr, /demo passphrase/);

    const sent = (await readFile(sentLog, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Line);
    // 50 devices × 10 s of the mixed profile (ECG 10/s, PPG 2/s, HR 1/s, SpO2 1/s, temp 0.1/s),
    // each device starting somewhere in the first second.
    assert.ok(sent.length >= 50 * 9 * 14 && sent.length <= 50 * 11 * 15, `sent ${sent.length}`);
    assert.equal(sent.length, summary.acked);

    const open = await vitalgate(['open', '--data-dir', data, '--json'], env);
    assert.equal(open.code, 0, open.stderr);
    const got = open.stdout.trim().split('\n').map((l) => JSON.parse(l) as Line);

    const sentBy = new Map(sent.map((r) => [key(r), r]));
    assert.equal(sentBy.size, sent.length, 'the simulator never reuses a (device, stream, seq)');
    const seen = new Set<string>();
    for (const r of got) {
      const k = key(r);
      assert.ok(!seen.has(k), `duplicated: ${k}`);
      seen.add(k);
      const s = sentBy.get(k);
      assert.ok(s, `invented: ${k}`);
      assert.equal(r.patientId, s.patientId);
      assert.deepEqual(bodyOf(r), bodyOf(s), `altered: ${k}`);
    }
    const lost = sent.filter((r) => !seen.has(key(r)));
    assert.deepEqual(lost.map(key), [], 'lost');
    assert.equal(got.length, sent.length);
    for (const stream of ['ecg', 'ppg', 'hr', 'spo2', 'temp']) assert.ok(got.some((r) => r.stream === stream), `no ${stream} readings`);
    assert.equal(new Set(got.map((r) => r.deviceId)).size, 50);

    // No stored byte sequence holds a reading in the clear, in either wire encoding, nor the
    // field names a plaintext batch would contain.
    const files = (await readdir(data, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
    const sample = sent.filter((_, i) => i % 97 === 0);
    const needles: Buffer[] = [Buffer.from('samples'), Buffer.from('values')];
    for (const r of sample) {
      const b = bodyOf(r);
      needles.push(Buffer.from(encodeBody(b, 'cbor')), Buffer.from(encodeBody(b, 'json')));
      if ('samples' in b) needles.push(Buffer.from(JSON.stringify(b.samples.slice(0, 6)).slice(1, -1)));
    }
    for (const f of files) {
      const content = await readFile(f);
      for (const n of needles) assert.equal(content.indexOf(n), -1, `${f} contains plaintext "${n.toString('utf8', 0, 40)}"`);
    }

    // Every batch is anchored and proven against the chain …
    const verify = await vitalgate(['verify', '--data-dir', data, '--json'], env);
    assert.equal(verify.code, 0, verify.stderr);
    const v = JSON.parse(verify.stdout) as { batches: number; verified: number; failed: number; unanchored: number; anchors: Array<{ ok: boolean; blockTimestamp: number }> };
    assert.ok(v.batches > 50 * 5, `batches ${v.batches}`);
    assert.deepEqual({ verified: v.verified, failed: v.failed, unanchored: v.unanchored }, { verified: v.batches, failed: 0, unanchored: 0 });
    assert.ok(v.anchors.length >= 1 && v.anchors.every((a) => a.ok && a.blockTimestamp > 0));

    // … every batch reached the embedded cloud exactly as sealed (ciphertext only: the scan above covered it) …
    const index = (await readFile(join(data, 'index.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { id: string; patientId: string; pack: string; offset: number; bytes: number });
    const cloud = new LocalObjectStore(join(data, 'cloud'));
    const cloudKeys = new Map<string, string>();
    for (const k of await cloud.list('batches/', undefined, 1e6)) cloudKeys.set(k.split('/').at(-1)!, k);
    assert.equal(cloudKeys.size, index.length, 'as many batches in the cloud as sealed');
    for (const r of index) {
      const packBytes = await readFile(join(data, 'store', 'packs', `${r.pack}.vgp`));
      assert.deepEqual(await cloud.get(cloudKeys.get(r.id) ?? 'missing'), new Uint8Array(packBytes.subarray(r.offset, r.offset + r.bytes)), `batch ${r.id} in the cloud`);
    }
    const confirmedAll = (await readFile(join(data, 'uploads.jsonl'), 'utf8')).trim().split('\n').map((l) => (JSON.parse(l) as { id: string }).id);
    const confirmed = confirmedAll.filter((id) => /^[0-9a-f]{64}$/.test(id));
    assert.deepEqual(new Set(confirmed), new Set(index.map((r) => r.id)), 'every upload confirmed once by ingest');
    assert.equal(confirmed.length, index.length);
    assert.ok(confirmedAll.some((id) => id.startsWith('epoch:')) && confirmedAll.some((id) => id.startsWith('anchor:')), 'epoch and anchor records went up too');

    // … and read back from the cloud (the embedded ingest, as the patients' gateway), every
    // (device, stream, seq) is there exactly once, with the same values.
    const fromCloud = await vitalgate(['open', '--data-dir', data, '--from-ingest', '--json'], env);
    assert.equal(fromCloud.code, 0, fromCloud.stderr);
    const cloudGot = fromCloud.stdout.trim().split('\n').map((l) => JSON.parse(l) as Line);
    assert.equal(cloudGot.length, sent.length);
    const cloudSeen = new Map<string, Line>();
    for (const r of cloudGot) {
      assert.ok(!cloudSeen.has(key(r)), `twice from the cloud: ${key(r)}`);
      cloudSeen.set(key(r), r);
    }
    for (const r of sent) assert.deepEqual(bodyOf(cloudSeen.get(key(r)) ?? {}), bodyOf(r), `from the cloud: ${key(r)}`);

    // … the cloud copy proves against the chain, and its catalog lists exactly what storage holds …
    const cloudVerify = await vitalgate(['verify', '--data-dir', data, '--from-ingest', '--json'], env);
    assert.equal(cloudVerify.code, 0, cloudVerify.stdout + cloudVerify.stderr);
    const cv = JSON.parse(cloudVerify.stdout) as { batches: number; verified: number; failed: number; unanchored: number; catalog: { rows: number; missing: number; extra: number; duplicated: number } };
    assert.deepEqual({ batches: cv.batches, verified: cv.verified, failed: cv.failed, unanchored: cv.unanchored }, { batches: index.length, verified: index.length, failed: 0, unanchored: 0 });
    assert.deepEqual(cv.catalog, { rows: index.length, missing: 0, extra: 0, duplicated: 0 });

    // … and one flipped byte in one stored batch fails exactly that batch.
    const victim = index[Math.floor(index.length / 2)]!;
    const packFile = join(data, 'store', 'packs', `${victim.pack}.vgp`);
    const pack = await readFile(packFile);
    pack[victim.offset + Math.floor(victim.bytes / 2)]! ^= 0x40;
    await writeFile(packFile, pack);
    const tampered = await vitalgate(['verify', '--data-dir', data, '--json'], env);
    assert.equal(tampered.code, 1);
    const t = JSON.parse(tampered.stdout) as { verified: number; failed: number; failures: Array<{ id: string; reason: string }> };
    assert.deepEqual(t.failures.map((f) => f.id), [victim.id]);
    assert.match(t.failures[0]!.reason, /altered/);
    assert.equal(t.verified, v.batches - 1);
  });

  it('fails clearly on a wrong passphrase and flags a tampered batch with exit code 1', async () => {
    const data = join(dir, 'small');
    const run = await vitalgate(['run', '--devices', '2', '--duration', '2', '--data-dir', data], env);
    assert.equal(run.code, 0, run.stderr);

    await writeFile(join(dir, 'wrong'), 'a different passphrase\n', { mode: 0o600 });
    const wrong = await vitalgate(['open', '--data-dir', data], { VITALGATE_PASSPHRASE_FILE: join(dir, 'wrong') });
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /wrong passphrase/);
    assert.equal(wrong.stdout, '');

    const pack = (await readdir(join(data, 'store', 'packs'))).sort()[0]!;
    const file = join(data, 'store', 'packs', pack);
    const bytes = await readFile(file);
    bytes[bytes.length - 20]! ^= 0x01;
    await writeFile(file, bytes);
    const open = await vitalgate(['open', '--data-dir', data, '--json'], env);
    assert.equal(open.code, 1);
    assert.match(open.stderr, /batch [0-9a-f]{64} .* FAILED: authentication failed/);
    assert.match(open.stderr, new RegExp(`pack ${pack.replace('.vgp', '')} FAILED: pack content does not hash`));
    assert.ok(open.stdout.trim().split('\n').length > 10, 'the other batches are still printed');
  });
});
