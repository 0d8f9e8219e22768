/**
 * `vitalgate ingest` on its own, over HTTPS (a throwaway CA made with openssl) and on loopback:
 * after `vitalgate run`, `open --from-ingest URL` reads back through it exactly what `open` reads
 * locally; plain HTTP on a network address is refused.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, makeTestPki } from '@vitalgate/test-support';
import { vitalgate } from './cli.js';
import { startDaemon } from './daemon.js';

describe('vitalgate ingest', function () {
  this.timeout(180_000);
  let dir: string;
  let data: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vg-ingest-cli-'));
    data = join(dir, 'data');
    await writeFile(join(dir, 'pass'), 'ingest cli passphrase, not the demo one\n', { mode: 0o600 });
    env = { VITALGATE_PASSPHRASE_FILE: join(dir, 'pass') };
    const run = await vitalgate(['run', '--devices', '4', '--duration', '3', '--data-dir', data, '--json'], env);
    assert.equal(run.code, 0, run.stderr);
    const summary = JSON.parse(run.stdout) as { batches: number; uploadedBatches: number; uploadWaiting: number };
    assert.equal(summary.uploadedBatches, summary.batches, 'run uploads every batch before it exits');
    assert.equal(summary.uploadWaiting, 0);
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  const readings = (stdout: string) => stdout.trim().split('\n').map((l) => { const r = JSON.parse(l) as Record<string, unknown>; return `${String(r.deviceId)}|${String(r.stream)}|${String(r.seq)}`; }).sort();

  it('over HTTPS: open --from-ingest reads back exactly what open reads locally', async function () {
    const pki = makeTestPki(this);
    const ingest = await startDaemon(['ingest', '--data-dir', data, '--port', '0', '--tls-cert', pki.serverCert, '--tls-key', pki.serverKey, '--log-level', 'warn']);
    try {
      const url = String(ingest.first.url);
      assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const local = await vitalgate(['open', '--data-dir', data, '--json'], env);
      assert.equal(local.code, 0, local.stderr);
      const cloud = await vitalgate(['open', '--data-dir', data, '--from-ingest', url, '--json'], { ...env, NODE_EXTRA_CA_CERTS: pki.caCert });
      assert.equal(cloud.code, 0, cloud.stderr);
      assert.ok(readings(local.stdout).length > 50);
      assert.deepEqual(readings(cloud.stdout), readings(local.stdout));
      assert.match(cloud.stderr, /batches opened from https:\/\/127\.0\.0\.1/);
    } finally {
      assert.equal(await ingest.stop('SIGTERM'), 0, ingest.stderr());
    }
  });

  it('refuses plain HTTP on a network address, and a certificate without its key', async () => {
    const open = await vitalgate(['ingest', '--data-dir', data, '--host', '0.0.0.0', '--port', '0']);
    assert.notEqual(open.code, 0);
    assert.match(open.stderr, /plain HTTP on 0\.0\.0\.0 would carry gateways' requests in the clear/);
    const half = await vitalgate(['ingest', '--data-dir', data, '--tls-cert', join(dir, 'x.crt')]);
    assert.notEqual(half.code, 0);
    assert.match(half.stderr, /--tls-cert and --tls-key go together/);
  });

  it('open --from-ingest without ingest running says so clearly', async () => {
    const port = await freePort(); // free, so nothing listens there
    const r = await vitalgate(['open', '--data-dir', data, '--from-ingest', `http://127.0.0.1:${port}`, '--json'], env);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`ingest at http://127\\.0\\.0\\.1:${port}/? is not reachable: ECONNREFUSED`));
  });
});
