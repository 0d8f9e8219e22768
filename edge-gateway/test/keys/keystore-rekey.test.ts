import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { access, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DataDirLock,
  DataDirLockedError,
  DEMO_PASSPHRASE,
  Keystore,
  lockPath,
  processStartTime,
  rekeyKeystore,
  SimulatedCrash,
  WrongPassphraseError,
} from '../../src/index.js';
import { TEST_SCRYPT, tempDir } from '../helpers.js';

const OLD = 'the old passphrase';
const NEW = 'the new passphrase';
const PATIENTS = ['patient-a', 'patient-b', 'patient-c'];
const SECRETS = ['gateway-chain-key', 'consent-patient-a'];

const gone = async (path: string): Promise<boolean> => access(path).then(() => false, () => true);

interface Snapshot { patients: Map<string, Uint8Array>; secrets: Map<string, Uint8Array> }

/** Another live process, written into the data directory's lock as its holder (it is never signalled). */
async function lockHeldByLiveProcess(dataDir: string, purpose: string): Promise<{ pid: number; kill(): Promise<void> }> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  await new Promise((r) => child.once('spawn', r));
  const pid = child.pid!;
  await writeFile(lockPath(dataDir), JSON.stringify({ pid, startTime: processStartTime(pid) ?? null, purpose, since: Date.now() }));
  return {
    pid,
    kill: () => new Promise<void>((r) => {
      if (child.exitCode !== null || child.signalCode !== null) return r();
      child.once('exit', () => r());
      child.kill('SIGKILL');
    }),
  };
}

async function populate(keysDir: string, pass = OLD): Promise<Snapshot> {
  const ks = await Keystore.open(keysDir, pass, TEST_SCRYPT);
  const snap: Snapshot = { patients: new Map(), secrets: new Map() };
  for (const p of PATIENTS) snap.patients.set(p, (await ks.getOrEnroll(p)).pms);
  for (const s of SECRETS) snap.secrets.set(s, await ks.getOrCreateSecret(s));
  return snap;
}

/** Every secret of `snap` in `ks`, and nothing else: a mix of two KEKs would fail to authenticate here. */
async function assertHolds(ks: Keystore, snap: Snapshot): Promise<void> {
  assert.deepEqual(await ks.patients(), [...snap.patients.keys()].sort());
  assert.deepEqual(await ks.secrets(), [...snap.secrets.keys()].sort());
  for (const [p, pms] of snap.patients) assert.deepEqual(await ks.get(p), pms, p);
  for (const [s, v] of snap.secrets) assert.deepEqual(await ks.getSecret(s), v, s);
}

describe('keystore demo marker', () => {
  it('marks a keystore created under the demo passphrase, and not one under a real passphrase', async () => {
    const t = await tempDir();
    try {
      const demo = await Keystore.open(join(t.dir, 'demo'), DEMO_PASSPHRASE, TEST_SCRYPT);
      assert.equal(demo.demo, true);
      assert.equal(JSON.parse(await readFile(join(t.dir, 'demo', 'keystore.json'), 'utf8')).demo, true);
      assert.deepEqual(await Keystore.inspect(join(t.dir, 'demo')), { exists: true, demo: true });
      const real = await Keystore.open(join(t.dir, 'real'), OLD, TEST_SCRYPT);
      assert.equal(real.demo, false);
      assert.equal('demo' in JSON.parse(await readFile(join(t.dir, 'real', 'keystore.json'), 'utf8')), false);
      assert.deepEqual(await Keystore.inspect(join(t.dir, 'real')), { exists: true, demo: false });
      assert.deepEqual(await Keystore.inspect(join(t.dir, 'none')), { exists: false, demo: false });
    } finally {
      await t.cleanup();
    }
  });

  it('treats a keystore that opens with the demo passphrase as demo even without the field (older files, or the field deleted)', async () => {
    const t = await tempDir();
    try {
      const ks = await Keystore.open(t.dir, DEMO_PASSPHRASE, TEST_SCRYPT);
      const pms = (await ks.getOrEnroll('p')).pms;
      const path = join(t.dir, 'keystore.json');
      const file = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
      delete file.demo;
      await writeFile(path, JSON.stringify(file));
      assert.equal((await Keystore.inspect(t.dir)).demo, false);
      const again = await Keystore.open(t.dir, DEMO_PASSPHRASE);
      assert.equal(again.demo, true);
      assert.deepEqual(await again.get('p'), pms);
    } finally {
      await t.cleanup();
    }
  });
});

describe('keystore rekey', function () {
  this.timeout(120_000);

  it('re-seals every secret: identical after, the old passphrase wrong, the new one right, no leftovers', async () => {
    const t = await tempDir();
    try {
      const keys = join(t.dir, 'keys');
      const snap = await populate(keys);
      const before = await readFile(join(keys, 'keystore.json'), 'utf8');
      const r = await rekeyKeystore(keys, OLD, NEW, { params: TEST_SCRYPT });
      assert.deepEqual([r.patients, r.secrets], [PATIENTS.length, SECRETS.length]);
      await assert.rejects(Keystore.open(keys, OLD), WrongPassphraseError);
      const ks = await Keystore.open(keys, NEW);
      assert.equal(ks.demo, false);
      await assertHolds(ks, snap);
      const after = JSON.parse(await readFile(join(keys, 'keystore.json'), 'utf8')) as { kdf: { saltHex: string } };
      assert.notEqual(after.kdf.saltHex, (JSON.parse(before) as { kdf: { saltHex: string } }).kdf.saltHex, 'a new salt');
      for (const p of ['keys.new', 'keys.old', 'lock', 'keys/rekey-complete']) assert.ok(await gone(join(t.dir, p)), p);
    } finally {
      await t.cleanup();
    }
  });

  it('moves a demo keystore to a real passphrase and drops the demo mark', async () => {
    const t = await tempDir();
    try {
      const keys = join(t.dir, 'keys');
      const snap = await populate(keys, DEMO_PASSPHRASE);
      await rekeyKeystore(keys, DEMO_PASSPHRASE, NEW, { params: TEST_SCRYPT });
      assert.deepEqual(await Keystore.inspect(keys), { exists: true, demo: false });
      const ks = await Keystore.open(keys, NEW);
      assert.equal(ks.demo, false);
      await assertHolds(ks, snap);
    } finally {
      await t.cleanup();
    }
  });

  it('refuses the demo passphrase as the new one, a wrong old one, and a missing keystore, changing nothing', async () => {
    const t = await tempDir();
    try {
      const keys = join(t.dir, 'keys');
      const snap = await populate(keys);
      await assert.rejects(rekeyKeystore(keys, OLD, DEMO_PASSPHRASE, { params: TEST_SCRYPT }), /public demo passphrase/);
      await assert.rejects(rekeyKeystore(keys, 'not the old one', NEW, { params: TEST_SCRYPT }), WrongPassphraseError);
      await assert.rejects(rekeyKeystore(join(t.dir, 'nothing', 'keys'), OLD, NEW, { params: TEST_SCRYPT }), /no keystore/);
      assert.ok(await gone(join(t.dir, 'keys.new')));
      assert.ok(await gone(join(t.dir, 'lock')));
      await assertHolds(await Keystore.open(keys, OLD), snap);
    } finally {
      await t.cleanup();
    }
  });

  it('refuses files it cannot carry over instead of dropping them', async () => {
    const t = await tempDir();
    try {
      const keys = join(t.dir, 'keys');
      const snap = await populate(keys);
      await writeFile(join(keys, 'something-new.json'), '{}');
      await assert.rejects(rekeyKeystore(keys, OLD, NEW, { params: TEST_SCRYPT }), /something-new\.json/);
      await assertHolds(await Keystore.open(keys, OLD), snap);
    } finally {
      await t.cleanup();
    }
  });

  it('a crash after any step leaves exactly the old or exactly the new keystore, whichever passphrase opens first', async () => {
    const t = await tempDir();
    try {
      const steps: string[] = [];
      {
        const keys = join(t.dir, 'probe', 'keys');
        await populate(keys);
        const r = await rekeyKeystore(keys, OLD, NEW, { params: TEST_SCRYPT, onStep: (_n, what) => steps.push(what) });
        assert.equal(r.steps, steps.length);
      }
      // mkdir, keystore.json, each patient, each secret, commit, two renames, delete, marker.
      assert.equal(steps.length, 1 + 1 + PATIENTS.length + SECRETS.length + 1 + 2 + 1 + 1);
      const outcomes: string[] = [];
      for (let k = 1; k <= steps.length; k++) {
        const data = join(t.dir, `crash-${k}`);
        const keys = join(data, 'keys');
        const snap = await populate(keys);
        const err = await rekeyKeystore(keys, OLD, NEW, { params: TEST_SCRYPT, failAfter: k }).then(() => undefined, (e: unknown) => e);
        assert.ok(err instanceof SimulatedCrash, `step ${k}: ${String(err)}`);
        // Try both orders: the first open settles the interrupted rekey, whichever passphrase it has.
        const order = k % 2 ? [OLD, NEW] : [NEW, OLD];
        const opened: string[] = [];
        for (const pass of order) {
          try {
            await assertHolds(await Keystore.open(keys, pass), snap);
            opened.push(pass);
          } catch (e) {
            assert.ok(e instanceof WrongPassphraseError, `step ${k} (${steps[k - 1]}), ${pass}: ${String(e)}`);
          }
        }
        assert.equal(opened.length, 1, `step ${k} (${steps[k - 1]}): exactly one passphrase opens it, got ${opened.length}`);
        for (const p of ['keys.new', 'keys.old']) assert.ok(await gone(join(data, p)), `step ${k}: ${p} left behind`);
        outcomes.push(`${steps[k - 1]} → ${opened[0] === OLD ? 'old' : 'new'}`);
        // Whatever survived can be rekeyed again.
        const current = opened[0]!;
        const next = current === OLD ? NEW : 'a third passphrase';
        await rekeyKeystore(keys, current, next, { params: TEST_SCRYPT });
        await assertHolds(await Keystore.open(keys, next), snap);
      }
      // The commit marker is the switch point: before it old, from it on new.
      const commit = steps.findIndex((s) => s.startsWith('commit'));
      assert.deepEqual(outcomes.map((o) => o.endsWith('new')), steps.map((_s, i) => i >= commit));
    } finally {
      await t.cleanup();
    }
  });

  it('refuses while a live process holds the data directory lock', async () => {
    const t = await tempDir();
    let holder: Awaited<ReturnType<typeof lockHeldByLiveProcess>> | undefined;
    try {
      const keys = join(t.dir, 'keys');
      const snap = await populate(keys);
      holder = await lockHeldByLiveProcess(t.dir, 'gateway');
      const pid = holder.pid;
      const err = await rekeyKeystore(keys, OLD, NEW, { params: TEST_SCRYPT }).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof DataDirLockedError, String(err));
      assert.match((err as Error).message, new RegExp(`pid ${pid} \\(vitalgate gateway`));
      assert.ok(await gone(join(t.dir, 'keys.new')));
      await assertHolds(await Keystore.open(keys, OLD), snap);
      // Held by this process too (a gateway in-process): still refused.
      await holder.kill();
      const lock = await DataDirLock.acquire(t.dir, 'gateway');
      try {
        await assert.rejects(rekeyKeystore(keys, OLD, NEW, { params: TEST_SCRYPT }), DataDirLockedError);
      } finally {
        await lock.release();
      }
      // Once the holder is gone the rekey runs.
      await rekeyKeystore(keys, OLD, NEW, { params: TEST_SCRYPT });
      await assertHolds(await Keystore.open(keys, NEW), snap);
    } finally {
      await holder?.kill();
      await t.cleanup();
    }
  });

  it('an interrupted rekey is not settled behind the back of a live rekey in another process', async () => {
    const t = await tempDir();
    let holder: Awaited<ReturnType<typeof lockHeldByLiveProcess>> | undefined;
    try {
      const keys = join(t.dir, 'keys');
      const snap = await populate(keys);
      await assert.rejects(rekeyKeystore(keys, OLD, NEW, { params: TEST_SCRYPT, failAfter: 3 }), SimulatedCrash);
      holder = await lockHeldByLiveProcess(t.dir, 'keys rekey');
      await assert.rejects(Keystore.open(keys, OLD), DataDirLockedError);
      assert.ok(!(await gone(join(t.dir, 'keys.new'))), 'the staging directory is left to its owner');
      await holder.kill();
      await assertHolds(await Keystore.open(keys, OLD), snap);
      assert.ok(await gone(join(t.dir, 'keys.new')));
    } finally {
      await holder?.kill();
      await t.cleanup();
    }
  });
});
