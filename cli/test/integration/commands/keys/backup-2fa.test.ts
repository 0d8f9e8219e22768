/**
 * `vitalgate keys backup --recovery-code` and `keys recover --recovery-code-file`, each a separate
 * process as an operator runs them, on MIT-BIH record 100 (MLII locks, V5 recovers) and v102s
 * (someone else's heart). The code must be needed together with the heartbeats, typos must be
 * named by group, and the code must appear nowhere but once on the backup's stdout.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keystore } from '@vitalgate/edge-gateway';
import { decodeRecoveryCode, generateRecoveryCode, parseBackup } from '@vitalgate/key-backup';
import { vitalgate } from '../../../cli.js';

const DATA = new URL('../../../../../../../shared/data/physionet/', import.meta.url).pathname;
const PATIENT = 'patient-0100';
const PASS = 'key backup 2fa passphrase';
const CODE_RE = /\b[0-9A-Z]{5}(?:-[0-9A-Z]{5}){6}\b/g;

async function snapshot(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const p = join(e.parentPath, e.name);
    const s = await stat(p);
    out.push(`${p} ${e.isDirectory() ? 'dir' : s.size} ${s.mtimeMs}`);
  }
  return out.sort();
}

async function allFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) if (e.isFile()) out.push(join(e.parentPath, e.name));
  return out;
}

describe('vitalgate keys backup/recover with a recovery code', function () {
  this.timeout(120_000);
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vg-keys-2fa-'));
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('needs the code and the heartbeats together, names a mistyped group, and keeps the code out of every file', async () => {
    const pass = join(dir, 'pass');
    await writeFile(pass, `${PASS}\n`, { mode: 0o600 });
    const env = { VITALGATE_PASSPHRASE_FILE: pass };
    const data = join(dir, 'data');
    const keysDir = join(data, 'keys');
    // Cheap keystore costs for the test; the recovery code uses the real default (scrypt N=2^17).
    const pms = (await (await Keystore.open(keysDir, PASS, { N: 2 ** 10, r: 8, p: 1 })).getOrEnroll(PATIENT)).pms;
    const vaultFile = join(dir, 'offsite', `${PATIENT}.vault.json`);
    const rec100 = join(DATA, '100.hea');

    // Backup with a generated code: printed once on stdout, nowhere else.
    const b = await vitalgate(['keys', 'backup', '--data-dir', data, '--patient', PATIENT, '--from', rec100, '--signal', 'MLII', '--start', '60', '--out', vaultFile, '--recovery-code'], env);
    assert.equal(b.code, 0, b.stderr);
    const shown = b.stdout.match(CODE_RE) ?? [];
    assert.equal(shown.length, 1, b.stdout);
    const code = shown[0]!;
    assert.equal(decodeRecoveryCode(code).canonical, code);
    assert.match(b.stdout, /RECOVERY CODE — shown this once, stored nowhere\. Write it down/);
    assert.match(b.stdout, /needs this code AND a recording/);
    assert.ok(!b.stderr.includes(code));
    const backup = parseBackup(await readFile(vaultFile));
    assert.ok(backup.secondFactor);
    assert.equal(backup.secondFactor.codeFormat, 'generated');
    assert.deepEqual(backup.secondFactor.kdf.N, 2 ** 17);
    // (7) The code, compact or grouped, and its raw bytes are in no file the backup touched.
    const raw = Buffer.from(decodeRecoveryCode(code).bytes);
    for (const f of await allFiles(dir)) {
      const bytes = await readFile(f);
      const lower = bytes.toString('utf8').toLowerCase();
      for (const s of [code, code.replace(/-/g, ''), raw.toString('hex'), raw.toString('base64')]) assert.ok(!lower.includes(s.toLowerCase()), `${f} holds ${s}`);
      assert.ok(!bytes.includes(raw), `${f} holds the code's bytes`);
    }

    // The gateway is lost.
    await rm(keysDir, { recursive: true, force: true });
    const common = ['keys', 'recover', '--vault', vaultFile, '--data-dir', data, '--quiet'];
    const codeFile = async (name: string, text: string) => {
      const f = join(dir, name);
      await writeFile(f, `${text}\n`, { mode: 0o600 });
      return f;
    };

    // (2) The right heartbeats without the code: exit 2 before measuring, nothing written.
    const noCode = await vitalgate([...common, '--from', rec100, '--signal', 'V5'], env);
    assert.equal(noCode.code, 2, noCode.stderr);
    assert.match(noCode.stderr, /needs its recovery code as well as the heartbeats: .*--recovery-code-file FILE/);
    assert.ok(!existsSync(keysDir));

    // (6) A typo in group 5: named, exit 2, nothing measured.
    const groups = code.split('-');
    groups[4] = (groups[4]![0] === 'Z' ? 'Y' : 'Z') + groups[4]!.slice(1);
    const typo = await vitalgate([...common, '--from', rec100, '--signal', 'V5', '--recovery-code-file', await codeFile('typo', groups.join('-'))], env);
    assert.equal(typo.code, 2, typo.stderr);
    assert.match(typo.stderr, new RegExp(`group 5 of the recovery code \\(${groups[4]}\\) is mistyped`));
    assert.match(typo.stderr, /Nothing was measured or written/);
    assert.ok(!existsSync(keysDir));

    // (3) The right heartbeats, a wrong (well-formed) code; (4) the right code, someone else's heart.
    const wrongCode = await vitalgate([...common, '--from', rec100, '--signal', 'V5', '--recovery-code-file', await codeFile('wrong', generateRecoveryCode())], env);
    assert.equal(wrongCode.code, 1, wrongCode.stderr);
    assert.match(wrongCode.stderr, /wrong recovery code or heartbeats do not match/);
    const right = await codeFile('right', code);
    const otherHeart = await vitalgate([...common, '--from', join(DATA, 'v102s.hea'), '--recovery-code-file', right], env);
    assert.equal(otherHeart.code, 1, otherHeart.stderr);
    assert.match(otherHeart.stderr, /wrong recovery code or heartbeats do not match/);
    // The same words either way; only the number of windows tried differs (docs/key-backup.md).
    const words = (s: string) => s.replace(/after \d+ windows?/, 'after N windows');
    assert.equal(words(wrongCode.stderr), words(otherHeart.stderr));
    assert.ok(!existsSync(keysDir));

    // (1) Code (from the environment, as typed: lower case with spaces) + V5: recovered.
    const ok = await vitalgate([...common, '--from', rec100, '--signal', 'V5', '--json'], { ...env, VITALGATE_RECOVERY_CODE_FILE: await codeFile('typed', code.toLowerCase().replace(/-/g, ' ')) });
    assert.equal(ok.code, 0, ok.stderr);
    const r = JSON.parse(ok.stdout) as { recovered: boolean; written: boolean; windowsTried: number; totalMs: number };
    assert.deepEqual([r.recovered, r.written], [true, true]);
    assert.deepEqual(await (await Keystore.open(keysDir, PASS)).get(PATIENT), pms);
    process.stderr.write(`      recovered with code + V5: ${r.windowsTried} window(s), ${r.totalMs} ms after scrypt\n`);
    for (const run of [b, noCode, typo, wrongCode, otherHeart, ok]) assert.ok(!run.stderr.includes(code) && !(run !== b && run.stdout.includes(code)));

    // (5) Without a second factor nothing changes: no code asked for, V5 recovers as before.
    const plainVault = join(dir, 'plain.vault.json');
    const before = await snapshot(keysDir);
    const pb = await vitalgate(['keys', 'backup', '--data-dir', data, '--patient', PATIENT, '--from', rec100, '--signal', 'MLII', '--start', '60', '--out', plainVault, '--json', '--quiet'], env);
    assert.equal(pb.code, 0, pb.stderr);
    const summary = JSON.parse(pb.stdout) as Record<string, unknown>;
    assert.equal(summary.recoveryCodeRequired, false);
    assert.equal(summary.recoveryCode, undefined);
    assert.equal((JSON.parse(await readFile(plainVault, 'utf8')) as { version: number }).version, 1);
    const plain = await vitalgate(['keys', 'recover', '--vault', plainVault, '--data-dir', data, '--from', rec100, '--signal', 'V5', '--quiet'], env);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, /already held this same secret: nothing changed/);
    assert.deepEqual(await snapshot(keysDir), before);

    // A chosen code from a file (--json): not printed back; both flags at once are refused.
    const chosenVault = join(dir, 'chosen.vault.json');
    const chosen = await vitalgate(['keys', 'backup', '--data-dir', data, '--patient', PATIENT, '--from', rec100, '--signal', 'MLII', '--start', '60', '--out', chosenVault, '--json', '--quiet',
      '--recovery-code-file', await codeFile('chosen', 'a long sentence only I know')], env);
    assert.equal(chosen.code, 0, chosen.stderr);
    assert.ok(!chosen.stdout.includes('only I know'));
    assert.equal((JSON.parse(chosen.stdout) as Record<string, unknown>).recoveryCodeRequired, true);
    assert.equal(parseBackup(await readFile(chosenVault)).secondFactor?.codeFormat, 'passphrase');
    const both = await vitalgate(['keys', 'backup', '--data-dir', data, '--patient', PATIENT, '--from', rec100, '--out', join(dir, 'x.json'), '--recovery-code', '--recovery-code-file', right], env);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /not both/);
  });
});
