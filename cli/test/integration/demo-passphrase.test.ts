/**
 * The demo passphrase stays a demo: only `start` and `run` seal keys under it; every other command
 * that opens a keystore refuses it (exit 2, saying how to set a passphrase and how to rekey) unless
 * given --allow-demo-passphrase; `keys rekey` moves a demo keystore to a real passphrase.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ANVIL_DEV_ACCOUNTS } from '@vitalgate/contracts';
import { DEMO_PASSPHRASE, Keystore, WrongPassphraseError } from '@vitalgate/edge-gateway';
import { vitalgate, type Ran } from '../cli.js';
import { startDaemon } from '../daemon.js';

const RECORD = new URL('../../../../../shared/data/physionet/100.hea', import.meta.url).pathname;
const PATIENT = 'patient-0001';
const CLINICIAN = ANVIL_DEV_ACCOUNTS[1]!.address;
const CHEAP = { N: 2 ** 10, r: 8, p: 1 };
/** No passphrase file from the environment of whoever runs the tests. */
const NO_ENV = { VITALGATE_PASSPHRASE_FILE: '' };

function assertRefused(r: Ran, what: string, dataDir: string): void {
  assert.equal(r.code, 2, `${what}: exit ${r.code}\n${r.stderr}`);
  assert.match(r.stderr, /refusing the public demo passphrase/, what);
  assert.match(r.stderr, /--passphrase-file FILE/, what);
  assert.match(r.stderr, /VITALGATE_PASSPHRASE_FILE=FILE/, what);
  assert.ok(r.stderr.includes(`vitalgate keys rekey --data-dir ${dataDir} --new-passphrase-file FILE`), `${what}: no rekey hint in\n${r.stderr}`);
  assert.match(r.stderr, /--allow-demo-passphrase/, what);
  assert.ok(!r.stderr.includes(DEMO_PASSPHRASE), `${what}: the passphrase itself is never printed`);
}

describe('vitalgate: the demo passphrase stays a demo', function () {
  this.timeout(180_000);
  let dir: string;
  let data: string;
  let realPass: string;
  let demoText: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vg-demo-'));
    data = join(dir, 'data');
    realPass = join(dir, 'real-pass');
    demoText = join(dir, 'demo-pass');
    await writeFile(realPass, 'a real passphrase for this test\n', { mode: 0o600 });
    await writeFile(demoText, DEMO_PASSPHRASE + '\n', { mode: 0o600 });
    // A demo keystore as `start` would leave it (cheap KDF so every command opens it quickly).
    const ks = await Keystore.open(join(data, 'keys'), DEMO_PASSPHRASE, CHEAP);
    assert.equal(ks.demo, true);
    await ks.getOrEnroll(PATIENT);
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  describe('every command but start and run refuses it without --allow-demo-passphrase', () => {
    it('open', async () => {
      assertRefused(await vitalgate(['open', '--data-dir', data], NO_ENV), 'open', data);
      const ok = await vitalgate(['open', '--data-dir', data, '--allow-demo-passphrase'], NO_ENV);
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stderr, /--allow-demo-passphrase: .*readable by anyone/);
    });

    it('gateway', async () => {
      assertRefused(await vitalgate(['gateway', '--broker', 'none', '--data-dir', data], NO_ENV, 60_000), 'gateway', data);
      const gw = await startDaemon(['gateway', '--broker', 'none', '--data-dir', data, '--allow-demo-passphrase', '--log-level', 'warn'], NO_ENV);
      assert.equal(gw.first.event, 'ready');
      assert.equal(await gw.stop(), 0);
    });

    it('keys backup and keys recover', async () => {
      const vault = join(dir, 'p1.vault.json');
      const backup = ['keys', 'backup', '--data-dir', data, '--patient', PATIENT, '--from', RECORD, '--start', '60', '--out', vault, '--quiet'];
      assertRefused(await vitalgate(backup, NO_ENV), 'keys backup', data);
      assert.ok(!existsSync(vault));
      const b = await vitalgate([...backup, '--allow-demo-passphrase'], NO_ENV);
      assert.equal(b.code, 0, b.stderr);
      const fresh = join(dir, 'recovered');
      const recover = ['keys', 'recover', '--vault', vault, '--data-dir', fresh, '--from', RECORD, '--signal', 'V5', '--quiet'];
      assertRefused(await vitalgate(recover, NO_ENV), 'keys recover', fresh);
      assert.ok(!existsSync(join(fresh, 'keys', 'keystore.json')), 'a refused recover creates no keystore');
      const r = await vitalgate([...recover, '--allow-demo-passphrase'], NO_ENV);
      assert.equal(r.code, 0, r.stderr);
      // What it created is a demo keystore, holding the same secret.
      const recovered = await Keystore.open(join(fresh, 'keys'), DEMO_PASSPHRASE);
      assert.equal(recovered.demo, true);
      assert.deepEqual(await recovered.get(PATIENT), await (await Keystore.open(join(data, 'keys'), DEMO_PASSPHRASE)).get(PATIENT));
    });

    for (const sub of ['grant', 'revoke']) {
      it(`consent ${sub}`, async () => {
        const args = ['consent', sub, '--patient', PATIENT, '--to', CLINICIAN, ...(sub === 'grant' ? ['--purpose', 'treatment'] : []), '--data-dir', data, '--chain-url', 'http://127.0.0.1:9'];
        assertRefused(await vitalgate(args, NO_ENV), `consent ${sub}`, data);
        // Past the gate it goes on to the chain (none here): a different error, not the refusal.
        const past = await vitalgate([...args, '--allow-demo-passphrase'], NO_ENV);
        assert.notEqual(past.code, 0);
        assert.doesNotMatch(past.stderr, /refusing the public demo passphrase/);
        assert.match(past.stderr, /deployment/);
      });
    }

    it('the demo passphrase in a passphrase file (flag or environment) is the demo passphrase', async () => {
      assertRefused(await vitalgate(['open', '--data-dir', data, '--passphrase-file', demoText], NO_ENV), 'open --passphrase-file demo', data);
      assertRefused(await vitalgate(['open', '--data-dir', data], { VITALGATE_PASSPHRASE_FILE: demoText }), 'open with the env', data);
    });
  });

  it('`run` makes a demo keystore, which gateway refuses even given a passphrase file; keys rekey moves it to a real passphrase', async () => {
    const runData = join(dir, 'run-data');
    const run = await vitalgate(['run', '--devices', '2', '--duration', '2', '--no-chain', '--batch-window-ms', '300', '--data-dir', runData, '--json'], NO_ENV);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /PUBLIC demo passphrase/);
    const keys = join(runData, 'keys');
    assert.equal((JSON.parse(await readFile(join(keys, 'keystore.json'), 'utf8')) as { demo?: boolean }).demo, true);

    assertRefused(await vitalgate(['gateway', '--broker', 'none', '--data-dir', runData, '--passphrase-file', demoText], NO_ENV, 60_000), 'gateway, demo text in a file', runData);
    const marked = await vitalgate(['gateway', '--broker', 'none', '--data-dir', runData, '--passphrase-file', realPass], NO_ENV, 60_000);
    assertRefused(marked, 'gateway, real passphrase on a demo keystore', runData);
    assert.match(marked.stderr, /marked demo/);

    const before = await vitalgate(['open', '--data-dir', runData, '--json', '--allow-demo-passphrase'], NO_ENV);
    assert.equal(before.code, 0, before.stderr);
    const readings = before.stdout.trim().split('\n').filter(Boolean);
    assert.ok(readings.length > 0);

    // The demo passphrase is never taken as the new one.
    const toDemo = await vitalgate(['keys', 'rekey', '--data-dir', runData, '--new-passphrase-file', demoText], NO_ENV);
    assert.equal(toDemo.code, 2);
    assert.match(toDemo.stderr, /public demo passphrase/);
    // Not beside a live gateway on the same directory.
    const gw = await startDaemon(['gateway', '--broker', 'none', '--data-dir', runData, '--allow-demo-passphrase', '--log-level', 'warn'], NO_ENV);
    try {
      const busy = await vitalgate(['keys', 'rekey', '--data-dir', runData, '--new-passphrase-file', realPass], NO_ENV);
      assert.equal(busy.code, 2);
      assert.match(busy.stderr, new RegExp(`in use by pid ${gw.child.pid} \\(vitalgate gateway`));
    } finally {
      await gw.stop();
    }

    const rekey = await vitalgate(['keys', 'rekey', '--data-dir', runData, '--new-passphrase-file', realPass], NO_ENV);
    assert.equal(rekey.code, 0, rekey.stderr);
    assert.match(rekey.stdout, /re-sealed/);
    assert.ok(!rekey.stdout.includes('a real passphrase') && !rekey.stderr.includes('a real passphrase'), 'no passphrase in the output');
    assert.deepEqual(await Keystore.inspect(keys), { exists: true, demo: false });
    await assert.rejects(Keystore.open(keys, DEMO_PASSPHRASE), WrongPassphraseError);

    const after = await vitalgate(['open', '--data-dir', runData, '--json', '--passphrase-file', realPass], NO_ENV);
    assert.equal(after.code, 0, after.stderr);
    assert.deepEqual(after.stdout.trim().split('\n').filter(Boolean), readings, 'every batch still opens, with the same readings');
    const demoNow = await vitalgate(['open', '--data-dir', runData, '--allow-demo-passphrase'], NO_ENV);
    assert.equal(demoNow.code, 2);
    assert.match(demoNow.stderr, /wrong passphrase/);
    // The old (demo) passphrase given explicitly to a second rekey is now wrong too.
    const again = await vitalgate(['keys', 'rekey', '--data-dir', runData, '--new-passphrase-file', realPass], NO_ENV);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /not under the demo passphrase: give its passphrase with --passphrase-file/);
  });
});
