import assert from 'node:assert/strict';
import { readFile, readdir, rename, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bytesToHex } from '@noble/hashes/utils.js';
import { Keystore, WrongPassphraseError } from '../../src/index.js';
import { TEST_SCRYPT, tempDir } from '../helpers.js';

describe('keystore', () => {
  it('enrols a patient once and gives the same secret after reopening', async () => {
    const t = await tempDir();
    try {
      const a = await Keystore.open(t.dir, 'correct horse', TEST_SCRYPT);
      const first = await a.getOrEnroll('patient-1');
      assert.equal(first.enrolled, true);
      assert.equal(first.pms.length, 32);
      assert.equal((await a.getOrEnroll('patient-1')).enrolled, false);
      const b = await Keystore.open(t.dir, 'correct horse');
      assert.deepEqual(await b.get('patient-1'), first.pms);
      assert.deepEqual(await b.patients(), ['patient-1']);
      // The secret is never on disk in the clear, in any encoding we would write it in.
      const raw = await readFile(join(t.dir, 'patients', 'patient-1.json'), 'utf8');
      assert.ok(!raw.includes(bytesToHex(first.pms)));
      assert.ok(!raw.includes(Buffer.from(first.pms).toString('base64')));
      assert.ok(!(await readFile(join(t.dir, 'patients', 'patient-1.json'))).includes(Buffer.from(first.pms)));
    } finally {
      await t.cleanup();
    }
  });

  it('refuses a wrong passphrase clearly instead of making new keys', async () => {
    const t = await tempDir();
    try {
      await (await Keystore.open(t.dir, 'right one', TEST_SCRYPT)).getOrEnroll('p');
      await assert.rejects(Keystore.open(t.dir, 'wrong one'), WrongPassphraseError);
      await assert.rejects(Keystore.open(t.dir, ''), /must not be empty/);
      assert.deepEqual(await readdir(join(t.dir, 'patients')), ['p.json']);
    } finally {
      await t.cleanup();
    }
  });

  it("detects one patient's sealed secret swapped into another's file", async () => {
    const t = await tempDir();
    try {
      const ks = await Keystore.open(t.dir, 'pass phrase', TEST_SCRYPT);
      await ks.getOrEnroll('alice');
      await ks.getOrEnroll('bob');
      await rename(join(t.dir, 'patients', 'alice.json'), join(t.dir, 'patients', 'bob.json'));
      const fresh = await Keystore.open(t.dir, 'pass phrase');
      await assert.rejects(fresh.get('bob'), /does not authenticate/);
    } finally {
      await t.cleanup();
    }
  });

  it('reports a damaged keystore file with its path', async () => {
    const t = await tempDir();
    try {
      await mkdir(t.dir, { recursive: true });
      await writeFile(join(t.dir, 'keystore.json'), '{not json');
      await assert.rejects(Keystore.open(t.dir, 'whatever'), /cannot read keystore .*keystore\.json/);
    } finally {
      await t.cleanup();
    }
  });
});
